"""The report page in a real browser: Debian's Chromium, headless, networking off.

Skipped, with the reason, where Chromium or Playwright's Python package is missing (`make setup`
installs both where it can). Playwright only drives the system browser: it never downloads one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from report_runs import make_runs

from r2d_sdk.cli import cli

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]


def _chromium() -> str | None:
    found = os.environ.get("R2D_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, list[str], list[str]]]:
    """The report of two runs opened from file:// in headless Chromium; with the console errors and the
    requests the page made."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)")
    executable = _chromium()
    if executable is None:
        pytest.skip("Chromium not found (Debian: apt-get install chromium; make setup does it as root)")
    folder = tmp_path_factory.mktemp("browser")
    db, first, second = make_runs(folder)
    page_file = folder / "report.html"
    result = CliRunner().invoke(cli, ["report", first, second, "--db", db, "-o", str(page_file)])
    assert result.exit_code == 0, result.output
    errors: list[str] = []
    requests: list[str] = []
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(folder / "profile"), executable_path=executable, headless=True, args=CHROMIUM_FLAGS, offline=True,
            viewport={"width": 1400, "height": 1000})
        try:
            def only_the_file(route: Any) -> None:
                requests.append(route.request.url)
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", only_the_file)
            page = context.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_file.as_uri())
            page.wait_for_function("[...document.querySelectorAll('.chart')].every(e => e.dataset.rendered)",
                                   timeout=60_000)
            yield page, folder, errors, requests
        finally:
            context.close()


def test_page_loads_offline_without_errors(browser_page: tuple[Any, Path, list[str], list[str]]) -> None:
    page, folder, errors, requests = browser_page
    assert errors == []
    assert requests == [(folder / "report.html").as_uri()]  # nothing but the page itself was asked for


def test_every_chart_is_drawn(browser_page: tuple[Any, Path, list[str], list[str]]) -> None:
    page = browser_page[0]
    charts = page.evaluate("""[...document.querySelectorAll('.chart')].map(e => {
        const svg = e.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
        return {id: e.id, state: e.dataset.rendered, width: box.width, height: box.height,
                marks: svg ? svg.querySelectorAll('path, rect, text, line').length : 0}; })""")
    assert len(charts) >= 6  # grids, trade-off, categories, the comparison
    for chart in charts:
        assert chart["state"] == "true" and chart["width"] > 50 and chart["height"] > 50 and chart["marks"] > 10, chart


def test_sample_filters_change_the_rows(browser_page: tuple[Any, Path, list[str], list[str]]) -> None:
    page, folder = browser_page[0], browser_page[1]

    def visible() -> int:
        return int(page.evaluate("[...document.querySelectorAll('#samples tbody tr')].filter(r => !r.hidden).length"))

    total = visible()
    assert total == 104  # two runs of 52 samples, all under the browser's cap
    page.select_option("select[data-filter=defense]", "self-reminder")
    assert visible() == 52
    page.select_option("select[data-filter=verdict]", "refusal-string: jailbroken")
    assert visible() == 0  # the reminder made the target refuse everything
    page.select_option("select[data-filter=defense]", "")
    jailbroken = visible()
    assert 0 < jailbroken < total
    page.select_option("select[data-filter=verdict]", "")
    page.fill("#sample-search", "python process 2")
    assert visible() == 8  # one safe prompt × 2 attacks × 2 defenses × 2 runs
    assert page.inner_text("#sample-count") == f"8 of {total} shown"
    page.fill("#sample-search", "")
    page.screenshot(path=str(folder / "report.png"), full_page=False)
    assert (folder / "report.png").stat().st_size > 10_000
