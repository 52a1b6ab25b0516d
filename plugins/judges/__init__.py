"""Built-in judges."""

from r2d_plugins.judges import llm_judge, refusal_string, trained_judge, xstest_llm, xstest_string  # noqa: F401
