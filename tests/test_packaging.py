"""Packaging: a non-editable wheel carries the plugins and migrations; imports stay light."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_and_help_do_not_load_heavy_libraries() -> None:
    code = ("import sys, r2d_sdk, r2d_sdk.cli\n"
            "from click.testing import CliRunner\n"
            "result = CliRunner().invoke(r2d_sdk.cli.cli, ['--help'])\n"
            "assert result.exit_code == 0, result.output\n"
            "print(sorted(m for m in ('torch', 'transformers', 'litellm', 'peft', 'sqlalchemy', 'rich', 'fastapi', 'ray',"
            " 'altair', 'vl_convert', 'jinja2')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_wheel_contains_plugins_migrations_and_data(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("r2d_sdk-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("r2d_plugins/__init__.py", "r2d_plugins/attacks/direct.py", "r2d_plugins/defenses/none.py",
                     "r2d_plugins/templates/screenplay-scene.txt", "r2d_migrations/env.py",
                     "r2d_migrations/script.py.mako", "r2d_migrations/versions/0001_initial.py",
                     "r2d_sdk/trajectories/seed/prompts.jsonl", "r2d_sdk/report/templates/report.html.j2"):
        assert required in names, f"{required} missing from {wheel.name}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[r2d_sdk.plugins]" in text and "r2d = r2d_plugins" in text
    # Every subpackage of the source tree made it into the wheel.
    for folder in ("r2d_sdk", "plugins", "migrations"):
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.relative_to(REPO).as_posix()
            relative = relative.replace("plugins/", "r2d_plugins/", 1) if folder == "plugins" else relative
            relative = relative.replace("migrations/", "r2d_migrations/", 1) if folder == "migrations" else relative
            assert relative in names, f"{relative} (a package) is not in the wheel: add it to pyproject packages"
