"""Reporting: named queries over the results database, terminal summaries, defense cost, and
JailbreakBench artifact export. Every figure is read from the store, never kept on the side."""

from r2d_sdk.report._artifact import export_artifact
from r2d_sdk.report._cost import cost_table, defense_costs, print_cost_table
from r2d_sdk.report._queries import QUERIES, named_query
from r2d_sdk.report._terminal import metrics_table, print_rows, print_run, print_runs, print_summary

__all__ = ["QUERIES", "cost_table", "defense_costs", "export_artifact", "metrics_table", "named_query",
           "print_cost_table", "print_rows", "print_run", "print_runs", "print_summary"]
