"""`r2d-sdk report`: one self-contained HTML page from the runs' figures.

The page is a Jinja2 template (`templates/report.html.j2`, autoescaped: stored prompts and
answers are attacker-written text) with the charts' Vega-Lite specifications as JSON and the
Vega libraries inlined (`_bundle.py`): no CDN, no network, it opens from `file://`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from r2d_sdk._version import __version__
from r2d_sdk.report import _charts
from r2d_sdk.report._bundle import javascript_bundle
from r2d_sdk.report._compare import Comparison, flips_sql
from r2d_sdk.report._figures import BENIGN_REFUSAL, TradeoffPoint
from r2d_sdk.report._run_data import RunReport


class Charts:
    """The page's charts: an id per chart and its specification, embedded once."""

    def __init__(self) -> None:
        self.specs: list[tuple[str, str]] = []

    def add(self, chart: Any) -> str:
        chart_id = f"chart-{len(self.specs) + 1}"
        # Altair would check each specification against the Vega-Lite schema (about a fifth of the render
        # time); the charts are fixed code, checked in the tests (test_report_charts.py) instead.
        spec = chart.configure_view(stroke=None).to_dict(validate=False)
        # Inside <script type="application/json">, "</script>" in a label would end the block early.
        self.specs.append((chart_id, json.dumps(spec, separators=(",", ":")).replace("<", "\\u003c")))
        return chart_id


def run_label(report: RunReport) -> str:
    return f"{report.run.id} ({report.run.name})"


def percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not finished"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def run_card(report: RunReport) -> dict[str, Any]:
    run = report.run
    return {
        "id": run.id, "name": run.name, "status": run.status, "error": run.error,
        "facts": [("recipe", run.recipe_path or "-"), ("recipe sha256", run.recipe_hash[:16]),
                  ("started (UTC)", f"{run.started_at:%Y-%m-%d %H:%M:%S}"), ("took", _duration(report.seconds)),
                  ("seed", str(run.seed)), ("git commit", run.git_commit or "-"),
                  ("versions", ", ".join(f"{k} {v}" for k, v in report.versions.items())),
                  ("samples", ", ".join(f"{n} {status}" for status, n in report.verdicts.sample_status().items())
                   or "none"),
                  ("judges", ", ".join(report.judges) or "none")],
        "recipe": run.recipe_yaml,
    }


def grid_blocks(report: RunReport, charts: Charts, several: bool) -> list[dict[str, Any]]:
    """Per target model and judge: the ASR heat map (with corrected ASR or its absence), and refusal rates."""
    blocks = []
    prefix = f"{report.run.id} · " if several else ""
    pairs = list(dict.fromkeys((c.model, c.judge) for c in report.asr_cells + report.refusal_cells))
    for model, judge in pairs:
        block: dict[str, Any] = {"title": f"{prefix}{model} · judge {judge}", "charts": [], "notes": []}
        asr_cells = [c for c in report.asr_cells if (c.model, c.judge) == (model, judge)]
        if asr_cells:
            block["charts"].append(charts.add(_charts.grid_chart(
                asr_cells, title="attack success rate (95% interval)", legend="ASR", scheme="reds")))
            corrected = {k: v for k, v in report.corrected.items() if (k[0], k[5]) == (model, judge)}
            if corrected:
                block["corrected"] = [{"cell": f"{k[1]} · {k[3]} · {k[4]}", "value": percent(v.value),
                                       "interval": f"{percent(v.low)}–{percent(v.high)}"}
                                      for k, v in sorted(corrected.items(), key=lambda kv: str(kv[0]))]
                # Which calibration: the part of the stored note every row of this judge shares.
                sources = dict.fromkeys(v.note.split("; ")[0] for v in corrected.values() if v.note)
                block["notes"] += [f"corrected ASR (Rogan–Gladen, with the calibration's uncertainty): {source}"
                                   for source in sources]
            else:
                block["notes"].append(f"corrected ASR: no calibration for judge {judge}"
                                      + ("" if report.calibrated else " (this database has no calibrations)"))
        refusal_cells = [c for c in report.refusal_cells if (c.model, c.judge) == (model, judge)]
        if refusal_cells:
            block["charts"].append(charts.add(_charts.grid_chart(
                refusal_cells, title="refusal rate (95% interval), every prompt", legend="refused", scheme="blues")))
        blocks.append(block)
    return blocks


def tradeoff_section(reports: list[RunReport], charts: Charts) -> dict[str, Any]:
    points: list[TradeoffPoint] = [p for r in reports for p in r.tradeoff]
    if not points:
        return {"chart": None, "rows": [], "notes": [
            "no trade-off: it needs harmful prompts judged for jailbreaks and safe or benign prompts judged for "
            "refusals in the same run (for example JBB harmful behaviors and XSTest's safe prompts)"]}
    measures = sorted({p.refusal_measure for p in points})
    labels = {r.run.id: run_label(r) for r in reports}
    chart = _charts.tradeoff_chart(points, labels, x_title="over-refusal: " + " / ".join(measures),
                                   y_title="ASR on harmful prompts (attacks pooled)",
                                   title="attack success against over-refusal, per defense (95% intervals)")
    rows = [{"run": p.run_id, "model": p.model, "defense": p.defense, "asr": p.asr.text(), "asr_n": p.asr.n,
             "over": p.over_refusal.text(), "over_n": p.over_refusal.n, "front": "yes" if p.on_front else "",
             "judges": f"{p.asr_judge} / {p.refusal_judge}"} for p in points]
    notes = ["ASR pools every attack on the harmful prompts; over-refusal is "
             + ("the share of XSTest's safe prompts fully refused" if BENIGN_REFUSAL not in measures
                else "the refusal rate on benign prompts") + ". Lower is better on both axes; a defense is on "
             "the Pareto front when no other defense of the same run and model is at least as good on both and "
             "better on one. Intervals are Wilson 95% per rate; overlapping intervals mean the order of two "
             "defenses is not established."]
    return {"chart": charts.add(chart), "rows": rows, "notes": notes}


def category_blocks(reports: list[RunReport], charts: Charts, several: bool) -> list[dict[str, Any]]:
    blocks = []
    for report in reports:
        for model in dict.fromkeys(c.model for c in report.categories):
            rates = [c for c in report.categories if c.model == model]
            title = f"{report.run.id} · " if several else ""
            blocks.append({"title": f"{title}{model} · judge {rates[0].judge}", "chart": charts.add(
                _charts.category_chart(rates, "ASR per category (attacks pooled, 95% interval)"))})
    return blocks


def cost_rows(report: RunReport) -> list[dict[str, str]]:
    return [{"model": r["model"], "defense": r["defense"], "n": str(r["n_samples"]),
             "calls": number(r["mean_defense_calls"], ".2f"), "tokens": number(r["mean_defense_tokens"], ".0f"),
             "vs_none": number(r["tokens_vs_none"], "+.0f"),
             "latency": number(r["mean_latency_ms"] / 1000 if r["mean_latency_ms"] is not None else None, ".2f"),
             "ratio": number(r["latency_ratio"], ".2f"), "cache": percent(r["cached_share"], 0),
             "blocked": percent(r["blocked_share"], 0)} for r in report.costs]


def r2d_block(report: RunReport, charts: Charts) -> dict[str, Any] | None:
    if not report.training and not report.pivots:
        return None
    runs = []
    for t in report.training:
        metrics = t["metrics_json"] or {}
        curve = [c for c in report.curves if c["training_run_id"] == t["training_run_id"]]
        runs.append({
            "defense": t["defense"], "id": t["training_run_id"], "name": t["name"], "base": t["base_model"],
            "data_hash": (t["data_hash"] or "")[:16], "data": t["data_path"] or "-",
            "steps": f"{t['steps_done']}" + (f" of {t['total_steps']}" if t["total_steps"] else ""),
            "pivot_acc": percent(metrics.get("pivot_acc")), "first_pivot_acc": percent(metrics.get("first_pivot_acc")),
            "emit_rate": percent(metrics.get("emit_rate")), "checkpoint": (t["checkpoint_hash"] or "")[:16],
            "chart": charts.add(_charts.loss_chart(curve, f"training run {t['training_run_id']} ({t['name']})"))
            if curve else None})
    pivots: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in report.pivots:
        key = (row["model"], row["defense"], row["dataset"], row["item_label"])
        group = pivots.setdefault(key, {"n": 0, "emitted": 0, "closed": 0, "first": {}})
        group["n"] += row["n"]
        group["emitted"] += row["emitted"]
        group["closed"] += row["reasoning_closed"]
        group["first"][row["first_pivot"] or "none"] = group["first"].get(row["first_pivot"] or "none", 0) + row["n"]
    pivot_rows = [{"model": k[0], "defense": k[1], "dataset": f"{k[2]} ({k[3]})" if k[3] else k[2], "n": g["n"],
                   "emitted": percent(g["emitted"] / g["n"]), "closed": percent(g["closed"] / g["n"]),
                   "first": ", ".join(f"{p} {percent(c / g['n'], 0)}" for p, c in sorted(g["first"].items()))}
                  for k, g in pivots.items()]
    return {"run": report.run.id, "trainings": runs, "pivots": pivot_rows}


def agreement_rows(report: RunReport) -> list[dict[str, str]]:
    return [{"question": "jailbreak" if a.question == "jailbroken" else "refusal", "first": a.first,
             "second": a.second, "n": str(a.n), "share": percent(a.share), "kappa": number(a.kappa, ".2f"),
             "table": "{} / {} / {} / {}".format(*a.table)} for a in report.agreement]


def compare_section(comparison: Comparison, charts: Charts) -> dict[str, Any]:
    rows, chart_rows = [], []
    labels_of: dict[str, set[Any]] = {}
    for c in comparison.cells:
        labels_of.setdefault(c.dataset, set()).add(c.item_label)
    for c in comparison.cells:
        where = _charts.where(c.dataset, c.item_label, labels_of)
        cell = f"{c.model} · {where} · {c.attack} · {c.defense} · {c.judge} ({c.measure})"
        interval = c.interval
        text = "-" if c.difference is None or interval is None else \
            f"{100 * c.difference:+.1f} ({100 * interval[0]:+.1f} to {100 * interval[1]:+.1f})"
        rows.append({"cell": cell, "a": c.a.text(), "b": c.b.text(), "difference": text,
                     "flagged": c.flagged, "flips": f"{c.flips} of {c.paired}"})
        if c.difference is not None and interval is not None:
            chart_rows.append({"cell": cell, "difference": 100 * c.difference, "low": 100 * interval[0],
                               "high": 100 * interval[1], "flagged": c.flagged, "text": text})
    chart = charts.add(_charts.difference_chart(chart_rows, f"run {comparison.run_b.id} − run {comparison.run_a.id}")) \
        if chart_rows else None
    return {"a": comparison.run_a.id, "b": comparison.run_b.id, "rows": rows, "chart": chart,
            "flipped": comparison.flipped, "flip_limit": comparison.flip_limit, "flips_sql": flips_sql(comparison),
            "only_a": comparison.only_a, "only_b": comparison.only_b}


def browser_section(reports: list[RunReport]) -> dict[str, Any]:
    rows = []
    for report in reports:
        for s in report.browser.samples:
            tokens, verdicts = [], []
            for j in s["judgments"]:
                if j["status"] != "scored":
                    tokens.append(f"{j['judge']}: not scored")
                    verdicts.append((j["judge"], f"not scored ({j['status']})"))
                    continue
                parts = [j["label"] or ""]
                if j["jailbroken"] is not None:
                    tokens.append(f"{j['judge']}: {'jailbroken' if j['jailbroken'] else 'not jailbroken'}")
                if j["refused"] is not None:
                    tokens.append(f"{j['judge']}: {'refused' if j['refused'] else 'complied'}")
                verdicts.append((j["judge"], ", ".join(p for p in parts if p)))
            rows.append({**s, "run": report.run.id, "tokens": "|".join(tokens), "verdicts": verdicts,
                         "prompt_cut": (s["prompt_length"] or 0) > report.browser.chars,
                         "response_cut": (s["response_length"] or 0) > report.browser.chars,
                         "reasoning_cut": (s["reasoning_length"] or 0) > report.browser.chars})

    def options(key: str) -> list[str]:
        return sorted({str(r[key]) for r in rows if r[key] is not None})

    verdict_options = sorted({t for r in rows for t in r["tokens"].split("|") if t})
    return {"rows": rows, "runs": options("run"), "attacks": options("attack"), "defenses": options("defense"),
            "categories": options("category"), "verdicts": verdict_options,
            "shown": len(rows), "total": sum(r.browser.total for r in reports),
            "cap": reports[0].browser.cap, "chars": reports[0].browser.chars,
            "run_ids": [r.run.id for r in reports]}


def render_html(reports: list[RunReport], comparison: Comparison | None = None) -> str:
    """The report page for one or more runs (a comparison section when given two)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    charts = Charts()
    several = len(reports) > 1
    context = {
        "title": "r2d-sdk report: " + ", ".join(run_label(r) for r in reports),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "version": __version__,
        "runs": [run_card(r) for r in reports],
        "grids": [b for r in reports for b in grid_blocks(r, charts, several)],
        "tradeoff": tradeoff_section(reports, charts),
        "categories": category_blocks(reports, charts, several),
        "costs": [{"run": r.run.id, "rows": cost_rows(r)} for r in reports if r.costs],
        "r2d": [b for r in reports if (b := r2d_block(r, charts)) is not None],
        "agreement": [{"run": r.run.id, "rows": agreement_rows(r)} for r in reports if r.agreement],
        "compare": compare_section(comparison, charts) if comparison is not None else None,
        "browser": browser_section(reports),
        "several": several,
    }
    environment = Environment(loader=PackageLoader("r2d_sdk.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    template = environment.get_template("report.html.j2")
    return template.render(**context, charts=charts.specs, bundle=javascript_bundle())
