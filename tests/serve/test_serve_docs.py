"""docs/serve.md describes every field of the serve: section; docs/guard.md's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from r2d_sdk.recipe import RouteSpec, ServeSection

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("model", [ServeSection, RouteSpec], ids=lambda m: m.__name__)
def test_every_serve_field_is_documented(model: type[BaseModel]) -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", (DOCS / "serve.md").read_text(), flags=re.MULTILINE))
    assert set(model.model_fields) - documented == set()


def test_the_ten_line_guard_runs(tmp_path: Path) -> None:
    block = re.findall(r"```python\n(.*?)```", (DOCS / "guard.md").read_text(), flags=re.S)[0]
    assert len([line for line in block.splitlines() if line.strip()]) <= 11
    # The documented model, swapped for a scripted one: the rest runs as written.
    scripted = '{"model": "mock/docs", "mock": {"replies": ["no"]}}'
    code = block.replace('"local/smollm2"', scripted).replace('"guard.db"', repr(str(tmp_path / "guard.db")))
    assert code != block
    namespace: dict[str, object] = {}
    exec(code, namespace)
    reply = namespace["reply"]
    assert reply.text == "no" and not reply.blocked and len(reply.verdicts) == 3  # type: ignore[attr-defined]
    import sqlite3

    with sqlite3.connect(tmp_path / "guard.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM guard_requests").fetchone() == (1,)
