"""The admin's own CRM fields as features ``crm.<name>``: their rule types and their columns. Pure.

The pull stores them per account as one JSON object (``accounts.crm_fields``: lower-cased API
name → value already typed from the CRM's schema); a feature is that value as its rule type. A
datetime field is read as its date (UTC), the rule language's one time type.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rules.expr import Type

__all__ = ["CRM_PREFIX", "CRM_TYPES", "crm_columns", "crm_schema"]

CRM_PREFIX = "crm."
CRM_TYPES: Mapping[str, Type] = {
    "number": Type.number,
    "bool": Type.bool,
    "text": Type.text,
    "date": Type.date,
    "datetime": Type.date,
}
"""The CRM type the connector read (describe / properties API) → the feature's rule type."""


def crm_schema(crm: Mapping[str, str | None]) -> dict[str, Type]:
    """The typed CRM features (those whose type is known yet) → rule type."""
    return {name: CRM_TYPES[kind] for name, kind in crm.items() if kind is not None and kind in CRM_TYPES}


def crm_columns(crm: Mapping[str, str | None]) -> list[pl.Expr]:
    """One column per typed CRM feature, read from ``crm_fields`` (null when the account has none)."""
    out = []
    for name, kind in crm.items():
        if kind is None or kind not in CRM_TYPES:
            continue
        raw = pl.col("crm_fields").str.json_path_match(f"$.{name.removeprefix(CRM_PREFIX)}")
        if CRM_TYPES[kind] == Type.number:
            value = raw.cast(pl.Float64, strict=False)
        elif kind == "bool":
            value = raw == "true"
        elif CRM_TYPES[kind] == Type.date:
            value = raw.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        else:
            value = raw
        out.append(value.alias(name))
    return out
