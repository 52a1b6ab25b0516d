"""The report's charts as Vega-Lite specifications, built with Altair.

Vega-Lite draws them in the page (the Vega libraries are inlined, `_bundle.py`) and vl-convert
exports the same specification as a static PNG or SVG without a browser (`--format md`), so one
chart definition serves both. Every chart gets aggregated rows only: a grid cell, a defense, a
training step.
"""

from __future__ import annotations

from typing import Any

from r2d_sdk.report._figures import CategoryRate, GridCell, Rate, TradeoffPoint

PERCENT = ".0%"
CELL_WIDTH, CELL_HEIGHT = 64, 34


def _alt() -> Any:
    import altair as alt

    return alt


def _bounds(rate: Rate) -> tuple[float | None, float | None]:
    return rate.interval if rate.interval is not None else (None, None)


def _cell_label(rate: Rate) -> str:
    """Two lines on a heat-map cell: the rate, and its interval below it."""
    if not rate.n:
        return "-"
    low, high = _bounds(rate)
    return f"{100 * rate.value:.0f}%\n{100 * low:.0f}–{100 * high:.0f}"  # type: ignore[operator]


def heatmap(rows: list[dict[str, Any]], *, title: str, x: str, y: str, x_order: list[str], y_order: list[str],
            legend: str, scheme: str = "reds") -> Any:
    """A heat map of rates (0-1) with each cell's rate and interval written on it.

    Rows carry `x`, `y`, `value`, `label` and `tooltip_*` fields.
    """
    alt = _alt()
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=alt.X(f"{x}:N", title=None, sort=x_order, axis=alt.Axis(labelAngle=-35, labelLimit=160, orient="top")),
        y=alt.Y(f"{y}:N", title=None, sort=y_order, axis=alt.Axis(labelLimit=220)),
    )
    tooltip = [alt.Tooltip(f"{x}:N"), alt.Tooltip(f"{y}:N"), alt.Tooltip("tooltip_rate:N", title=legend),
               alt.Tooltip("n:Q", title="n scored"), alt.Tooltip("not_scored:Q", title="not scored")]
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("value:Q", title=legend, scale=alt.Scale(domain=[0, 1], scheme=scheme),
                        legend=alt.Legend(format=PERCENT, orient="right")),
        tooltip=tooltip)
    text = base.mark_text(lineBreak="\n", fontSize=10, lineHeight=12).encode(
        text="label:N", color=alt.condition("datum.value > 0.55", alt.value("white"), alt.value("#222")),
        tooltip=tooltip)
    return alt.layer(cells, text).properties(title=title, width=alt.Step(CELL_WIDTH), height=alt.Step(CELL_HEIGHT))


def where(dataset: str, label: str | None, labels_of: dict[str, set[Any]]) -> str:
    """A dataset's name, with the item label when the dataset holds items of several labels."""
    return f"{dataset} ({label})" if len(labels_of.get(dataset, ())) > 1 else dataset


def grid_rows(cells: list[GridCell], several_datasets: bool) -> list[dict[str, Any]]:
    """Heat-map rows of a grid: one row label per dataset (and item label) and attack."""
    rows = []
    labels_of: dict[str, set[Any]] = {}
    for cell in cells:
        labels_of.setdefault(cell.dataset, set()).add(cell.item_label)
    for cell in cells:
        where_ = where(cell.dataset, cell.item_label, labels_of)
        rows.append({"defense": cell.defense, "row": f"{where_} · {cell.attack}" if several_datasets else cell.attack,
                     "value": cell.rate.value, "label": _cell_label(cell.rate), "tooltip_rate": cell.rate.text(),
                     "n": cell.rate.n, "not_scored": cell.not_scored})
    return rows


def grid_chart(cells: list[GridCell], *, title: str, legend: str, scheme: str) -> Any:
    several = len({(c.dataset, c.item_label) for c in cells}) > 1
    rows = grid_rows(cells, several)
    return heatmap(rows, title=title, x="defense", y="row", x_order=list(dict.fromkeys(c.defense for c in cells)),
                   y_order=list(dict.fromkeys(r["row"] for r in rows)), legend=legend, scheme=scheme)


def category_chart(rates: list[CategoryRate], title: str) -> Any:
    rows = [{"defense": r.defense, "category": r.category, "value": r.rate.value, "label": _cell_label(r.rate),
             "tooltip_rate": r.rate.text(), "n": r.rate.n, "not_scored": 0} for r in rates]
    return heatmap(rows, title=title, x="defense", y="category", x_order=list(dict.fromkeys(r.defense for r in rates)),
                   y_order=sorted({r.category for r in rates}), legend="ASR")


def tradeoff_rows(points: list[TradeoffPoint], run_labels: dict[str, str]) -> list[dict[str, Any]]:
    """One row per point; defenses drawn at the same spot share one label (text marks would overlap)."""
    rows: list[dict[str, Any]] = []
    first_at: dict[tuple[Any, ...], dict[str, Any]] = {}
    for p in points:
        if p.asr.value is None or p.over_refusal.value is None:
            continue
        (asr_low, asr_high), (over_low, over_high) = _bounds(p.asr), _bounds(p.over_refusal)
        rows.append({"run": run_labels.get(p.run_id, p.run_id), "model": p.model, "defense": p.defense,
                     "asr": p.asr.value, "asr_low": asr_low, "asr_high": asr_high,
                     "over": p.over_refusal.value, "over_low": over_low, "over_high": over_high,
                     "position": "Pareto front" if p.on_front else "dominated",
                     "asr_text": f"{p.asr.text()}, n {p.asr.n}",
                     "over_text": f"{p.over_refusal.text()}, n {p.over_refusal.n}", "label": p.defense})
        spot = (rows[-1]["run"], rows[-1]["model"], round(p.asr.value, 6), round(p.over_refusal.value, 6))
        if spot in first_at:
            first_at[spot]["label"] += ", " + p.defense
            rows[-1]["label"] = ""
        else:
            first_at[spot] = rows[-1]
    return rows


def tradeoff_chart(points: list[TradeoffPoint], run_labels: dict[str, str], *, x_title: str, y_title: str,
                   title: str) -> Any:
    """ASR against over-refusal per defense, both with 95% interval bars; the Pareto front joined by a
    dashed line and drawn filled, the dominated defenses hollow; one colour per run."""
    alt = _alt()
    rows = tradeoff_rows(points, run_labels)
    base = alt.Chart(alt.Data(values=rows))
    several_models = len({r["model"] for r in rows}) > 1
    series = "run" if len(run_labels) > 1 or not several_models else "model"
    color = alt.Color(f"{series}:N", title=series, legend=alt.Legend(orient="bottom", labelLimit=400))

    # The axes reach the top of every interval bar, not only the points.
    x_top = max([r["over_high"] for r in rows if r["over_high"] is not None] or [1.0])
    y_top = max([r["asr_high"] for r in rows if r["asr_high"] is not None] or [1.0])

    def x(field: str) -> Any:  # every layer titles its axes alike, so Vega-Lite does not join the titles
        return alt.X(f"{field}:Q", title=x_title, axis=alt.Axis(format=PERCENT),
                     scale=alt.Scale(domain=[0, x_top], nice=True))

    def y(field: str) -> Any:
        return alt.Y(f"{field}:Q", title=y_title, axis=alt.Axis(format=PERCENT),
                     scale=alt.Scale(domain=[0, y_top], nice=True))

    tooltip = [alt.Tooltip("defense:N"), alt.Tooltip("run:N"), alt.Tooltip("model:N"),
               alt.Tooltip("asr_text:N", title="ASR"), alt.Tooltip("over_text:N", title="over-refusal"),
               alt.Tooltip("position:N")]
    horizontal = base.mark_rule(opacity=0.6).encode(x=x("over_low"), x2="over_high:Q", y=y("asr"), color=color)
    vertical = base.mark_rule(opacity=0.6).encode(x=x("over"), y=y("asr_low"), y2="asr_high:Q", color=color)
    front = base.transform_filter("datum.position == 'Pareto front'").mark_line(strokeDash=[5, 4]).encode(
        x=x("over"), y=y("asr"), color=color, detail=f"{series}:N", order="over:Q")
    marks = base.mark_point(size=90, strokeWidth=2).encode(
        x=x("over"), y=y("asr"), color=color, tooltip=tooltip,
        fill=alt.condition("datum.position == 'Pareto front'", alt.Fill(f"{series}:N", legend=None),
                           alt.value("white")))
    labels = base.mark_text(align="left", dx=8, dy=-8, fontSize=11).encode(x=x("over"), y=y("asr"),
                                                                          text="label:N", color=color)
    subtitle = "filled: on the Pareto front (joined by the dashed line); hollow: another defense does better on both"
    return alt.layer(horizontal, vertical, front, marks, labels).properties(
        title=alt.TitleParams(title, subtitle=subtitle), width=560, height=400)


def loss_chart(curve: list[dict[str, Any]], title: str) -> Any:
    """Training loss (and its CE and CPO parts) per optimizer step; held-out pivot accuracy beside it."""
    alt = _alt()
    parts = [{"step": r["step"], "part": part, "value": r[part]} for r in curve if r["split"] == "train"
             for part in ("loss", "ce", "cpo") if r[part] is not None]
    steps = alt.Axis(format="d", tickMinStep=1)
    losses = alt.Chart(alt.Data(values=parts)).mark_line(point=len(parts) < 60).encode(
        x=alt.X("step:Q", axis=steps), y=alt.Y("value:Q", title="loss"), color=alt.Color("part:N", title=None),
        tooltip=["step:Q", "part:N", alt.Tooltip("value:Q", format=".4f")]).properties(
        title=title, width=380, height=220)
    heldout = [{"step": r["step"], "pivot_acc": r["pivot_acc"]} for r in curve
               if r["split"] == "heldout" and r["pivot_acc"] is not None]
    if not heldout:
        return losses
    accuracy = alt.Chart(alt.Data(values=heldout)).mark_line(point=True, color="#4c78a8").encode(
        x=alt.X("step:Q", axis=steps), y=alt.Y("pivot_acc:Q", title="held-out pivot accuracy", axis=alt.Axis(format=PERCENT),
                                   scale=alt.Scale(domain=[0, 1])),
        tooltip=["step:Q", alt.Tooltip("pivot_acc:Q", format=".1%")]).properties(width=240, height=220)
    return alt.hconcat(losses, accuracy)


def difference_chart(rows: list[dict[str, Any]], title: str) -> Any:
    """Per compared cell: B − A with its 95% interval; red where the interval excludes 0."""
    alt = _alt()
    base = alt.Chart(alt.Data(values=rows)).encode(y=alt.Y("cell:N", title=None, sort=[r["cell"] for r in rows],
                                                           axis=alt.Axis(labelLimit=320)))
    color = alt.condition("datum.flagged", alt.value("#c0392b"), alt.value("#7f8c8d"))
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(strokeDash=[3, 3], color="#555").encode(x="x:Q")
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title="B − A (percentage points)"), x2="high:Q",
                                                color=color)
    dots = base.mark_point(filled=True, size=60).encode(
        x="difference:Q", color=color,
        tooltip=[alt.Tooltip("cell:N"), alt.Tooltip("text:N", title="B − A")])
    return alt.layer(zero, bars, dots).properties(title=title, width=420, height=alt.Step(18))
