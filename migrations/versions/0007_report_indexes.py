"""Indexes for the report: its grid, compare and judge-list queries read indexes, not rows.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-01

`r2d-sdk report` reads every verdict of a run in one pass: each sample's grid coordinates, and
per sample the verdicts of all its judges (r2d_sdk/report/_verdicts.py). On a million samples
with four judges that pass took ~30 s on SQLite through the existing single-column indexes
(every judgment fetched from its table row); with these covering indexes it reads index pages
only (~4 s of CPU on the project's 2-core machine):

- ix_samples_cells: a run's samples in grid order, with their status and item (what `compare`
  matches on);
- ix_judgments_verdicts: a sample's judgments with the columns a verdict is made of;
- ix_judgments_run_judge: a run's judges, found by a skip scan instead of reading every judgment.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_samples_cells", "samples", ["run_id", "model", "dataset", "item_label", "category", "attack",
                                                    "defense", "status", "item_id", "prompt_index"])
    op.create_index("ix_judgments_verdicts", "judgments",
                    ["sample_id", "judge", "status", "jailbroken", "refused", "label"])
    op.create_index("ix_judgments_run_judge", "judgments", ["run_id", "judge"])


def downgrade() -> None:
    op.drop_index("ix_judgments_run_judge", table_name="judgments")
    op.drop_index("ix_judgments_verdicts", table_name="judgments")
    op.drop_index("ix_samples_cells", table_name="samples")
