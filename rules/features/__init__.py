"""Per-account features as of one moment, computed from stored records. Pure: frames and ``as_of`` in.

A feature is a named, documented value with a unit, one per account: what rules (``[[rules]].when``)
compare, what the health score weighs and what ``upsync explain`` shows. :data:`FEATURES` is the
catalogue (the README's feature reference is generated from it); :func:`compute` builds them all
for every account in one vectorised pass over the stored tables.

"As of" is strict: a record counts only if it existed at ``as_of`` (created, closed, dated or, for
usage, delivered by the usage API no later than then), so a replay of a past day sees what that day
saw. Windows are whole days ending yesterday: "7 days" are the 7 calendar days before ``as_of``'s
date, the usage of today being incomplete. Fields the CRM overwrites in place (employees, parent)
are reconstructed from the change log the store keeps (``account_events``).

Weekly series (``rising(wau, 3)``) are held as columns ``<metric>@w0 … @wN``: ``w0`` the last 7
days, ``w1`` the 7 before, and so on; usage metrics are weekly means of daily values, tickets and
activities weekly counts.

Daily series (``ago(seats_used, 30)``) are held as one list column ``<metric>@d`` each, one value a
day, oldest first and yesterday last, only for the series and as many days as the rules read.
"""

from rules.features.catalogue import (
    DAILY,
    FEATURES,
    SERIES,
    USAGE_FEATURES,
    Feature,
    FeatureParams,
    Series,
    feature_schema,
    reads_usage,
    series_columns,
)
from rules.features.compute import compute
from rules.features.crm import CRM_TYPES, crm_columns, crm_schema
from rules.features.labels import LABELS, label_of, shown, value_list
from rules.features.products import owned_products, purchases

__all__ = [
    "CRM_TYPES",
    "DAILY",
    "FEATURES",
    "LABELS",
    "SERIES",
    "USAGE_FEATURES",
    "Feature",
    "FeatureParams",
    "Series",
    "compute",
    "crm_columns",
    "crm_schema",
    "feature_schema",
    "label_of",
    "owned_products",
    "purchases",
    "reads_usage",
    "series_columns",
    "shown",
    "value_list",
]
