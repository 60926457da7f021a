"""Schema version 7: ``accounts.crm_fields``, the admin's own CRM fields read with each account.

``[salesforce] extra_fields`` / ``[hubspot] extra_properties`` name them; the pull stores them as
one JSON object (lower-cased API name → typed value) and the rules read them as ``crm.<name>``.
Accounts stored before have none until the next pull reads them (the column is nullable).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v7_crm_extra"
down_revision = "v6_engagement_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("accounts")}
    if "crm_fields" not in present:
        op.add_column("accounts", sa.Column("crm_fields", sa.JSON()))


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
