"""Built-in defenses: none, R2D and R2D-p (Reasoning-to-Defend), self-reminder, the comparison
defenses of the R2D paper and JailbreakBench (docs/defenses.md), a blocklist, and `stack`, which
chains input-side checks, an answering defense and output-side checks (docs/guard.md)."""

from r2d_plugins.defenses import (  # noqa: F401  (importing registers)
    backtranslation,
    blocklist,
    erase_and_check,
    goal_prioritization,
    icd,
    intention_analysis,
    none,
    perplexity_filter,
    r2d,
    remove_non_dictionary,
    rpo,
    safedecoding,
    self_examination,
    self_reminder,
    smoothllm,
    stack,
    synonym_substitution,
)
