"""Reporting: named queries over the results database, terminal summaries, defense cost, the HTML
and Markdown report, run comparison, and JailbreakBench artifact export. Every figure is read from
the store, never kept on the side."""

from r2d_sdk.report._artifact import export_artifact
from r2d_sdk.report._compare import ComparedCell, Comparison, compare_runs
from r2d_sdk.report._compare_terminal import comparison_table, print_comparison
from r2d_sdk.report._cost import cost_table, defense_costs, print_cost_table
from r2d_sdk.report._queries import QUERIES, named_query
from r2d_sdk.report._run_data import RunReport, collect
from r2d_sdk.report._terminal import (
    correction_lines,
    metrics_table,
    print_corrections,
    print_metrics,
    print_rows,
    print_run,
    print_runs,
    print_summary,
)
from r2d_sdk.report._write import Written, write_report

__all__ = ["QUERIES", "ComparedCell", "Comparison", "RunReport", "Written", "collect", "compare_runs",
           "comparison_table", "correction_lines", "cost_table", "defense_costs", "export_artifact", "metrics_table", "named_query",
           "print_comparison", "print_corrections", "print_cost_table", "print_metrics", "print_rows", "print_run", "print_runs", "print_summary",
           "write_report"]
