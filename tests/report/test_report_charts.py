"""Every chart of the report is a valid Vega-Lite specification (the page skips this check for speed)."""

from __future__ import annotations

from report_records import fill

from r2d_sdk.report import _charts, collect, compare_runs
from r2d_sdk.report._html import compare_section
from r2d_sdk.store import Store


class _Validating:
    """The page's chart registry, validating each specification against Vega-Lite's schema."""

    def __init__(self) -> None:
        self.specs: list[dict[str, object]] = []

    def add(self, chart: object) -> str:
        self.specs.append(chart.to_dict(validate=True))  # type: ignore[attr-defined]
        return f"chart-{len(self.specs)}"


def test_every_chart_validates(store: Store) -> None:
    run_a, run_b = fill(store)
    report = collect(store, run_a)
    charts = _Validating()
    charts.add(_charts.grid_chart(report.asr_cells, title="ASR", legend="ASR", scheme="reds"))
    charts.add(_charts.grid_chart(report.refusal_cells, title="refusal", legend="refused", scheme="blues"))
    charts.add(_charts.category_chart(report.categories, "per category"))
    charts.add(_charts.tradeoff_chart(report.tradeoff, {run_a: "A"}, x_title="x", y_title="y", title="t"))
    curve = [{"split": "train", "step": 1, "loss": 2.0, "ce": 1.5, "cpo": 0.5, "pivot_acc": None},
             {"split": "heldout", "step": 1, "loss": 1.0, "ce": None, "cpo": None, "pivot_acc": 0.5}]
    charts.add(_charts.loss_chart(curve, "curve"))
    section = compare_section(compare_runs(store, run_a, run_b), charts)  # type: ignore[arg-type]
    assert section["chart"] is not None
    assert len(charts.specs) == 6
    assert all(str(spec["$schema"]).startswith("https://vega.github.io/schema/vega-lite/v6") for spec in charts.specs)
