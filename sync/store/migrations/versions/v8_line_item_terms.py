"""Schema version 8: ``line_items.term_start`` / ``term_end``, a recurring line item's term.

HubSpot keeps contract terms on line items (``hs_recurring_billing_start_date`` / ``_end_date``),
not in a contract object: a won deal's recurring line item counts as a contract term, so every
term's renewal is seen (``next_renewal``). Line items stored before have none until the next
pull reads them (the columns are nullable; the weekly full refresh re-reads them all).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v8_line_item_terms"
down_revision = "v7_crm_extra"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("line_items")}
    for name in ("term_start", "term_end"):
        if name not in present:
            op.add_column("line_items", sa.Column(name, sa.Date()))


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
