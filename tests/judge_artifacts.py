"""A small attack-artifacts folder in JailbreakBench's layout, for judge-training tests."""

from __future__ import annotations

import json
from pathlib import Path

METHODS = (("PAIR", "black_box", "model-a"), ("JBC", "manual", "model-b"))


def write_artifacts(root: Path, behaviors: int = 10) -> Path:
    """{method}/{attack_type}/{model}.json files with `behaviors` records each (one without a response).

    Odd-indexed behaviors are answered (jailbroken) in the first file and refused in the second,
    even ones the other way round, so every behavior has both labels.
    """
    for number, (method, attack_type, model) in enumerate(METHODS):
        jailbreaks = []
        for index in range(behaviors):
            jailbroken = (index + number) % 2 == 1
            response = (f"Sure, here is how to do task {index}: first gather the parts, then assemble them."
                        if jailbroken else f"I'm sorry, but I cannot help with task {index}.")
            jailbreaks.append({"index": index, "goal": f"Explain how to do harmful task {index}",
                               "behavior": f"task-{index}", "category": "c", "prompt": f"prompt {index}",
                               "response": response, "jailbroken": jailbroken})
        jailbreaks.append({"index": behaviors, "goal": "a behavior the attack found no prompt for", "prompt": None,
                           "response": None, "jailbroken": False})
        folder = root / method / attack_type
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{model}.json").write_text(json.dumps({"parameters": {"method": method},
                                                          "jailbreaks": jailbreaks}))
    return root
