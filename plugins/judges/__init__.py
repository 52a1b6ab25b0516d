"""Built-in judges."""

from r2d_plugins.judges import (  # noqa: F401
    harmbench_cls,
    llama_guard,
    llm_judge,
    refusal_string,
    strongreject,
    trained_judge,
    xstest_llm,
    xstest_string,
)
