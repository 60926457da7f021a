"""Schema version 12: what MRR per account and month is derived from (``rules/mrr.py``).

``opportunities.currency`` (the deal's ISO currency: HubSpot ``deal_currency_code``, Salesforce
``CurrencyIsoCode`` in a multi-currency org), ``line_items.mrr`` (HubSpot ``hs_mrr``) and
``line_items.billing_frequency`` (HubSpot ``recurringbillingfrequency``). Records stored before
have none until the next pull reads them (the columns are nullable; the full refresh rereads them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v12_revenue_inputs"
down_revision = "v11_control_arm"
branch_labels = None
depends_on = None

_COLUMNS = {
    "opportunities": (("currency", sa.String()),),
    "line_items": (("mrr", sa.Float()), ("billing_frequency", sa.String())),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in _COLUMNS.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        for name, kind in columns:
            if name not in present:
                op.add_column(table, sa.Column(name, kind))


def downgrade() -> None:
    raise NotImplementedError("upsync's state database only moves forward; restore a backup to go back")
