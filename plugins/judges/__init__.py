"""Built-in judges."""

from r2d_plugins.judges import llm_judge, refusal_string, xstest_llm, xstest_string  # noqa: F401
