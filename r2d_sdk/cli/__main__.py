"""`python -m r2d_sdk.cli`: the same as the `r2d-sdk` command."""

from r2d_sdk.cli import main

main()
