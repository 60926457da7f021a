"""Schema version 11: ``control_arm``, the accounts each rule's control group kept without a task.

One row per (system, rule, account, period): the day the account's task would have been created
(the first cycle that kept it out). The report's lift compares them with the accounts that got
the rule's tasks. A table of its own, not ledger rows: every reader of the ledger (already
written, budgets, G2, the funnel, strays) stays as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v11_control_arm"
down_revision = "v10_signal_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "control_arm" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "control_arm",
        sa.Column("system", sa.String, primary_key=True),
        sa.Column("rule_id", sa.String, primary_key=True),
        sa.Column("account_id", sa.String, primary_key=True),
        sa.Column("period", sa.String, primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
