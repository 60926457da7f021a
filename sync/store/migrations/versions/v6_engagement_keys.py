"""Schema version 6: activities are keyed by their object type as well as their id.

HubSpot numbers each engagement object (tasks, calls, meetings, emails, notes) on its own, so a
task, a call and a note may share an id; keyed on ``(system, crm_id)`` they overwrote each other.
``activities`` gains ``object_type`` (the CRM's name of the type: ``tasks``…, ``Task``,
``Event``) and is keyed on ``(system, object_type, crm_id)``. Every stored row is kept: its type
is the stream that wrote it (``source``), or, for a row without one, what its activity type or
its Salesforce id prefix says. The table is rebuilt (SQLite cannot change a primary key in place):
a new table is filled from the old, which is then dropped and the new one renamed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v6_engagement_keys"
down_revision = "v5"
branch_labels = None
depends_on = None

COLUMNS = (
    ("system", sa.String, True),
    ("object_type", sa.String, True),
    ("crm_id", sa.String, True),
    ("deleted", sa.Boolean, False),
    ("modified_at", sa.DateTime, False),
    ("synced_at", sa.DateTime, False),
    ("seen_pass", sa.String, False),
    ("source", sa.String, False),
    ("account_id", sa.String, False),
    ("contact_id", sa.String, False),
    ("owner_id", sa.String, False),
    ("activity_type", sa.String, False),
    ("subject", sa.String, False),
    ("status", sa.String, False),
    ("is_closed", sa.Boolean, False),
    ("activity_at", sa.DateTime, False),
    ("sync_key", sa.String, False),
    ("created_by", sa.String, False),
    ("last_modified_by", sa.String, False),
    ("created_at", sa.DateTime, False),
)
INDEXES = (("account_id",), ("sync_key",))

# the object type of a version-5 row: the stream that wrote it, else its activity type (HubSpot)
# or its id's key prefix (Salesforce: 00T Task, 00U Event)
OBJECT_TYPE = """
CASE
  WHEN source = 'salesforce.tasks' THEN 'Task'
  WHEN source = 'salesforce.events' THEN 'Event'
  WHEN source LIKE 'hubspot.%' THEN substr(source, 9)
  WHEN system = 'salesforce' AND crm_id LIKE '00U%' THEN 'Event'
  WHEN system = 'salesforce' THEN 'Task'
  WHEN activity_type IN ('task', 'call', 'meeting', 'email', 'note') THEN activity_type || 's'
  ELSE 'tasks'
END
"""


def upgrade() -> None:
    names = [c[0] for c in COLUMNS]
    op.create_table(
        "activities_v6",
        *(sa.Column(name, kind(), primary_key=key, nullable=not key) for name, kind, key in COLUMNS),
    )
    kept = [n for n in names if n != "object_type"]
    op.execute(
        f"INSERT INTO activities_v6 (object_type, {', '.join(kept)}) "
        f"SELECT {OBJECT_TYPE}, {', '.join(kept)} FROM activities"
    )
    op.drop_table("activities")
    op.rename_table("activities_v6", "activities")
    for cols in INDEXES:
        op.create_index(f"ix_activities_{'_'.join(cols)}", "activities", list(cols))


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
