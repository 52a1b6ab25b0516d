"""Built-in defenses."""

from r2d_plugins.defenses import (  # noqa: F401  # noqa: F401  (the comparison defenses of the R2D paper and JailbreakBench)
    backtranslation,
    erase_and_check,
    goal_prioritization,
    icd,
    intention_analysis,
    none,
    perplexity_filter,
    remove_non_dictionary,
    rpo,
    safedecoding,
    self_examination,
    self_reminder,
    smoothllm,
    synonym_substitution,
)
from r2d_plugins.defenses import r2d  # noqa: F401, E402  (R2D and R2D-p: Reasoning-to-Defend)
