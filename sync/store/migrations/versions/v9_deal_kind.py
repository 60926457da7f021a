"""Schema version 9: ``opportunities.deal_kind``, the org's own field saying what a deal sells.

``[salesforce] deal_kind_field`` / ``[hubspot] deal_kind_property`` name it (upsell, cross-sell,
renewal); G3 reads a lost deal's kind from it before its type. Deals stored before have none until
the next pull reads them (the column is nullable).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v9_deal_kind"
down_revision = "v8_line_item_terms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("opportunities")}
    if "deal_kind" not in present:
        op.add_column("opportunities", sa.Column("deal_kind", sa.String()))


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
