"""Schema version 10: ``signal_log.run_started_on``, the first day of a signal's current run.

A rule whose ``window = "episode"`` gets one task per run of days its condition holds, keyed by
the day the run began. Rows logged before have none; the next cycle that sees the signal again
starts from its first day (``first_fired_on``) when the run continues (seen within a week).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v10_signal_runs"
down_revision = "v9_deal_kind"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("signal_log")}
    if "run_started_on" not in present:
        op.add_column("signal_log", sa.Column("run_started_on", sa.Date()))


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
