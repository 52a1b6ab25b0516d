"""The Python examples in README.md and docs/plugins.md run as written."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_readme_defense_and_the_mock_provider_example_run() -> None:
    readme = _python_blocks(REPO / "README.md")
    defense = next(block for block in readme if "@register" in block)
    namespace: dict[str, object] = {}
    exec(defense, namespace)  # registers "my-guard", as a user's module would
    example = next(block for block in _python_blocks(REPO / "docs" / "plugins.md") if "MockScript" in block)
    exec(example, namespace)
    test = next(value for name, value in namespace.items() if name.startswith("test_"))
    asyncio.run(test())  # type: ignore[operator]
