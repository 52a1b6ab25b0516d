"""`r2d-sdk report --format md`: the report's tables in Markdown and the trade-off plot as an image,
for a paper or a pull request. The image is the HTML page's own chart, exported by vl-convert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r2d_sdk.report import _charts
from r2d_sdk.report._compare import Comparison
from r2d_sdk.report._html import (
    agreement_rows,
    cost_rows,
    percent,
    run_card,
    run_label,
    tradeoff_section,
)
from r2d_sdk.report._run_data import RunReport


class _NoCharts:
    """tradeoff_section's chart registry, when only its table is wanted."""

    specs: list[tuple[str, str]] = []

    def add(self, chart: Any) -> str:
        return ""


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def tradeoff_image(reports: list[RunReport], path: Path) -> bool:
    """Write the trade-off chart as PNG (or SVG, by suffix); False when there is no trade-off to draw."""
    import vl_convert

    from r2d_sdk.report._bundle import vega_lite_version

    points = [p for r in reports for p in r.tradeoff]
    if not points:
        return False
    measures = " / ".join(sorted({p.refusal_measure for p in points}))
    chart = _charts.tradeoff_chart(points, {r.run.id: run_label(r) for r in reports},
                                   x_title=f"over-refusal: {measures}", y_title="ASR on harmful prompts (attacks pooled)",
                                   title="attack success against over-refusal, per defense (95% intervals)")
    spec = chart.configure_view(stroke=None).configure(background="white").to_dict()
    if path.suffix == ".svg":
        path.write_text(vl_convert.vegalite_to_svg(spec, vl_version=vega_lite_version()), encoding="utf-8")
    else:
        path.write_bytes(vl_convert.vegalite_to_png(spec, vl_version=vega_lite_version(), scale=2))
    return True


def render_markdown(reports: list[RunReport], image: str | None, comparison: Comparison | None = None) -> str:
    """The Markdown summary; `image` is the trade-off image's path relative to the Markdown file."""
    lines = ["# r2d-sdk report: " + ", ".join(run_label(r) for r in reports), ""]
    for report in reports:
        card = run_card(report)
        lines += [f"**Run {card['id']}** ({card['name']}, {card['status']}): "
                  + "; ".join(f"{k} {v}" for k, v in card["facts"]), ""]
    section = tradeoff_section(reports, _NoCharts())  # type: ignore[arg-type]
    lines += ["## Trade-off", ""]
    if image:
        lines += [f"![attack success against over-refusal]({image})", ""]
    lines += section["notes"] + [""]
    if section["rows"]:
        lines += _table(["run", "model", "defense", "ASR (95% CI)", "n", "over-refusal (95% CI)", "n", "Pareto front"],
                        [[r["run"], r["model"], r["defense"], r["asr"], r["asr_n"], r["over"], r["over_n"], r["front"]]
                         for r in section["rows"]]) + [""]
    lines += ["## Attack success rate per attack and defense", ""]
    for report in reports:
        for model, judge in dict.fromkeys((c.model, c.judge) for c in report.asr_cells):
            cells = [c for c in report.asr_cells if (c.model, c.judge) == (model, judge)]
            defenses = list(dict.fromkeys(c.defense for c in cells))
            rows: dict[str, dict[str, str]] = {}
            labels_of: dict[str, set[Any]] = {}
            for c in cells:
                labels_of.setdefault(c.dataset, set()).add(c.item_label)
            for c in cells:
                where = _charts.where(c.dataset, c.item_label, labels_of)
                rows.setdefault(f"{where} · {c.attack}", {})[c.defense] = f"{c.rate.text(0)} n {c.rate.n}"
            lines += [f"Run {report.run.id}, {model}, judge {judge} (Wilson 95% intervals):", ""]
            lines += _table(["prompts · attack", *defenses], [[k, *(v.get(d, "-") for d in defenses)]
                                                             for k, v in rows.items()]) + [""]
    for report in reports:
        if report.categories:
            defenses = list(dict.fromkeys(c.defense for c in report.categories))
            by_category: dict[str, dict[str, str]] = {}
            for rate in report.categories:
                by_category.setdefault(rate.category, {})[rate.defense] = f"{rate.rate.text(0)} n {rate.rate.n}"
            lines += [f"## ASR per category, run {report.run.id} (judge {report.categories[0].judge}, attacks pooled)",
                      ""]
            lines += _table(["category", *defenses], [[k, *(v.get(d, "-") for d in defenses)]
                                                      for k, v in sorted(by_category.items())]) + [""]
    lines += ["## Cost per sample", ""]
    for report in reports:
        rows_ = cost_rows(report)
        if rows_:
            lines += [f"Run {report.run.id} (the `defense_cost` view):", ""]
            lines += _table(["model", "defense", "n", "extra calls", "extra tokens", "tokens vs none", "seconds",
                             "× none", "cached", "blocked"],
                            [[r["model"], r["defense"], r["n"], r["calls"], r["tokens"], r["vs_none"], r["latency"],
                              r["ratio"], r["cache"], r["blocked"]] for r in rows_]) + [""]
    agreements = [(r.run.id, agreement_rows(r)) for r in reports if r.agreement]
    if agreements:
        lines += ["## Judge agreement", ""]
        for run_id, rows_ in agreements:
            lines += _table(["run", "question", "judge", "judge", "n", "agree", "kappa"],
                            [[run_id, r["question"], r["first"], r["second"], r["n"], r["share"], r["kappa"]]
                             for r in rows_]) + [""]
    if comparison is not None:
        lines += [f"## Run {comparison.run_b.id} against run {comparison.run_a.id}", ""]
        rows_cmp = []
        for compared in comparison.cells:
            interval = compared.interval
            diff = "-" if compared.difference is None or interval is None else \
                f"{100 * compared.difference:+.1f} ({100 * interval[0]:+.1f} to {100 * interval[1]:+.1f})"
            rows_cmp.append([compared.model, compared.dataset, compared.attack, compared.defense, compared.judge,
                             compared.measure, percent(compared.a.value), percent(compared.b.value),
                             diff + (" *" if compared.flagged else ""), compared.flips])
        lines += _table(["model", "dataset", "attack", "defense", "judge", "rate", "A", "B", "B − A (95% CI)", "flips"],
                        rows_cmp) + ["", "`*`: the interval excludes 0 (Newcombe's interval for two proportions).", ""]
    return "\n".join(lines).rstrip() + "\n"
