"""`r2d-sdk report` and `r2d-sdk compare` on real runs: the page's content, offline, its errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_runs import make_runs
from rich.console import Console

from r2d_sdk.cli import cli
from r2d_sdk.report import compare_runs, comparison_table
from r2d_sdk.store import Store


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    return make_runs(tmp_path_factory.mktemp("report-runs"))


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_html_report_of_one_run(runs: tuple[str, str, str], tmp_path: Path) -> None:
    db, first, _ = runs
    page = tmp_path / "report.html"
    code, out, err = _invoke("report", first, "--db", db, "-o", str(page))
    assert code == 0, err
    assert str(page) in out and first in out
    html = page.read_text(encoding="utf-8")
    for section in ('id="run"', 'id="grid"', 'id="tradeoff"', 'id="categories"', 'id="cost"', 'id="r2d"',
                    'id="agreement"', 'id="browser"'):
        assert section in html
    assert 'id="compare"' not in html  # one run: nothing to compare
    # Every chart has its specification; grid (ASR, refusal x 2 judges), trade-off, categories.
    charts = re.findall(r'<div class="chart" id="(chart-\d+)"', html)
    assert len(charts) == 5 and all(f'id="{c}-spec"' in html for c in charts)
    assert "corrected ASR: no calibration for judge refusal-string" in html
    assert "name: report-test" in html and "samples</th><td>52 ok" in html


def test_page_is_self_contained_and_shows_stored_text_as_text(runs: tuple[str, str, str], tmp_path: Path) -> None:
    db, first, _ = runs
    page = tmp_path / "report.html"
    assert _invoke("report", first, "--db", db, "-o", str(page))[0] == 0
    html = page.read_text(encoding="utf-8")
    # No script, stylesheet, image or font from anywhere: everything is inline.
    assert not re.search(r"<script[^>]+src=", html) and not re.search(r"<link[^>]+href=", html)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html)
    assert "default-src 'none'" in html  # the page may not fetch anything, even if a library tried
    assert "vegaEmbed" in html and len(html) < 5_000_000
    # An answer containing markup and a closing script tag is escaped text, not markup.
    assert "&lt;b&gt;that&lt;/b&gt; &lt;/script&gt;" in html
    assert "<b>that</b>" not in html


def test_markdown_report_with_the_tradeoff_image(runs: tuple[str, str, str], tmp_path: Path) -> None:
    db, first, _ = runs
    summary = tmp_path / "summary.md"
    code, out, err = _invoke("report", first, "--db", db, "--format", "md", "-o", str(summary))
    assert code == 0, err
    image = tmp_path / "summary-tradeoff.png"
    assert image.read_bytes().startswith(b"\x89PNG") and "summary-tradeoff.png" in out
    text = summary.read_text()
    assert "![attack success against over-refusal](summary-tradeoff.png)" in text
    assert "| run | model | defense | ASR (95% CI) |" in text and "## Cost per sample" in text
    assert "self-reminder" in text and "0.0% (0.0–" in text


def test_two_runs_add_the_comparison(runs: tuple[str, str, str], tmp_path: Path) -> None:
    db, first, second = runs
    page = tmp_path / "both.html"
    code, _, err = _invoke("report", first, second, "--db", db, "-o", str(page))
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    assert 'id="compare"' in html and f"run {second} against run {first}" in html
    assert "Flipped items" in html


@pytest.mark.parametrize(("args", "message", "fix"), [
    (["report", "nope"], "no run 'nope'", "runs list"),
    (["report", "latest", "latest"], "named twice", "name each run once"),
    (["report", "latest", "-o", "{tmp}"], "is a folder", "give a file name"),
    (["report", "latest", "-o", "{tmp}/missing/r.html"], "does not exist", "mkdir -p"),
    (["compare", "latest", "nope"], "no run 'nope'", "runs list"),
])
def test_bad_input_is_one_error_with_its_fix(runs: tuple[str, str, str], tmp_path: Path, args: list[str],
                                             message: str, fix: str) -> None:
    db = runs[0]
    code, out, err = _invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args], "--db", db)
    assert code != 0 and "Traceback" not in err + out
    assert "error: " in err and message in err and "  fix: " in err and fix in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_compare_in_the_terminal_fits_its_width(runs: tuple[str, str, str]) -> None:
    db, first, second = runs
    comparison = compare_runs(Store(f"sqlite:///{db}"), first, second)
    flips = {(c.dataset, c.attack, c.defense, c.judge): c.flips for c in comparison.cells}
    assert flips[("jbb-harmful", "direct", "none", "refusal-string")] == 4  # weapons 1, 2, 4, 5: refused, then not
    assert flips[("jbb-harmful", "direct", "self-reminder", "refusal-string")] == 0
    for width in (120, 80, 60, 44):
        console = Console(width=width, record=True, color_system=None)
        console.print(comparison_table(comparison, width))
        lines = console.export_text().splitlines()
        assert lines and max(len(line) for line in lines) <= width
        assert ("→" in "\n".join(lines)) == (width < 80)  # the stacked layout below 80 columns


def test_compare_cli(runs: tuple[str, str, str]) -> None:
    db, first, second = runs
    code, out, err = _invoke("compare", first, second, "--db", db, "--flips", "2")
    assert code == 0, err
    assert "B−A" in out and "first 2 flipped items" in out and "every flip: r2d-sdk sql" in out
