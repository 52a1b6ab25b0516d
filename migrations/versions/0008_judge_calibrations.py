"""Judge calibrations, their per-row verdicts, corrected rates in `metrics`, and the
`judge_agreement` view.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

`r2d-sdk judges calibrate` measures a judge against human labels: one `calibrations` row per
(judge, labelled set) with the confusion counts (scored rows only; errors and unscorable
verdicts counted apart) and the statistics with their intervals, and one `calibration_items`
row per labelled row, so every disagreement can be read back. A judge is identified by
`judge_config_hash` (its component, validated arguments and the specs of the models they
name), so a run's judge finds the calibrations of the same instrument under any label.

`metrics` gains the value corrected for the judge's error (Rogan–Gladen) beside the raw one:
`corrected`, its interval, `correction_status`, the `calibration_id` used, and a
`correction_note` saying in words which calibration it was or why there is none.

`judge_agreement`: for every pair of judges of a run, the 2x2 table of their `jailbroken`
verdicts on the samples both scored, the share agreeing, and Cohen's kappa computed in SQL
from integer counts, kappa = (n * agreeing - chance) / (n * n - chance) with
chance = first_yes * second_yes + first_no * second_no (NULL when chance agreement is total).
Plain SQL that SQLite and PostgreSQL both run as written.

SQLite adds the foreign key of `metrics.calibration_id` by rebuilding `metrics`; no view names
that table, so nothing needs setting aside.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)

# Pairs (judge_a < judge_b) of a run's judges, on the samples both judged and scored.
_PAIR_COUNTS = """
    SELECT a.run_id, a.judge AS judge_a, b.judge AS judge_b,
           COUNT(*) AS n,
           SUM(CASE WHEN a.jailbroken AND b.jailbroken THEN 1 ELSE 0 END) AS both_yes,
           SUM(CASE WHEN a.jailbroken AND NOT b.jailbroken THEN 1 ELSE 0 END) AS only_first,
           SUM(CASE WHEN NOT a.jailbroken AND b.jailbroken THEN 1 ELSE 0 END) AS only_second,
           SUM(CASE WHEN NOT a.jailbroken AND NOT b.jailbroken THEN 1 ELSE 0 END) AS both_no
    FROM judgments a
    JOIN judgments b ON b.sample_id = a.sample_id AND a.judge < b.judge
    WHERE a.status = 'scored' AND b.status = 'scored'
      AND a.jailbroken IS NOT NULL AND b.jailbroken IS NOT NULL
    GROUP BY a.run_id, a.judge, b.judge
"""

# first_yes * second_yes + first_no * second_no, in counts (n^2 times the chance agreement).
_CHANCE = ("((t.both_yes + t.only_first) * (t.both_yes + t.only_second)"
           " + (t.only_second + t.both_no) * (t.only_first + t.both_no))")

JUDGE_AGREEMENT = f"""
    CREATE VIEW judge_agreement AS
    SELECT t.run_id, t.judge_a, t.judge_b, t.n, t.both_yes, t.only_first, t.only_second, t.both_no,
           CAST(t.both_yes + t.both_no AS FLOAT) / t.n AS agreement,
           CAST(t.n * (t.both_yes + t.both_no) - {_CHANCE} AS FLOAT)
               / NULLIF(t.n * t.n - {_CHANCE}, 0) AS kappa
    FROM ({_PAIR_COUNTS}) t
"""


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("judge_label", sa.String(200), nullable=False),
        sa.Column("judge_config_hash", sa.String(64), nullable=False),
        sa.Column("judge_config_json", sa.JSON(), nullable=False),
        sa.Column("set_name", sa.String(500), nullable=False),
        sa.Column("set_hash", sa.String(64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("tp", sa.Integer(), nullable=False),
        sa.Column("fp", sa.Integer(), nullable=False),
        sa.Column("tn", sa.Integer(), nullable=False),
        sa.Column("fn", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("unscorable", sa.Integer(), nullable=False),
        sa.Column("stats_json", sa.JSON(), nullable=False),
        sa.Column("recipe_path", sa.Text(), nullable=True),
        sa.Column("sdk_version", sa.String(40), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calibrations"),
    )
    op.create_index("ix_calibrations_judge", "calibrations", ["judge_config_hash", "set_hash", "created_at"])
    op.create_table(
        "calibration_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("calibration_id", sa.Integer(), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("human_label", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("verdict", sa.Boolean(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["calibration_id"], ["calibrations.id"],
                                name="fk_calibration_items_calibration_id_calibrations", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_calibration_items"),
    )
    op.create_index("uq_calibration_items_row", "calibration_items", ["calibration_id", "item_index"], unique=True)
    with op.batch_alter_table("metrics") as batch:
        batch.add_column(sa.Column("corrected", sa.Float(), nullable=True))
        batch.add_column(sa.Column("corrected_low", sa.Float(), nullable=True))
        batch.add_column(sa.Column("corrected_high", sa.Float(), nullable=True))
        batch.add_column(sa.Column("correction_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("calibration_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("correction_note", sa.Text(), nullable=True))
        batch.create_foreign_key("fk_metrics_calibration_id_calibrations", "calibrations", ["calibration_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index("ix_metrics_calibration_id", ["calibration_id"])
    op.execute(JUDGE_AGREEMENT)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS judge_agreement")
    with op.batch_alter_table("metrics") as batch:
        batch.drop_index("ix_metrics_calibration_id")
        batch.drop_constraint("fk_metrics_calibration_id_calibrations", type_="foreignkey")
        for column in ("correction_note", "calibration_id", "correction_status", "corrected_high", "corrected_low",
                       "corrected"):
            batch.drop_column(column)
    op.drop_index("uq_calibration_items_row", table_name="calibration_items")
    op.drop_table("calibration_items")
    op.drop_index("ix_calibrations_judge", table_name="calibrations")
    op.drop_table("calibrations")
