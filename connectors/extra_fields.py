"""The admin's own CRM fields (``[salesforce] extra_fields``, ``[hubspot] extra_properties``): typed
from the CRM's schema, read with the account, stored as one JSON column. Pure but for the one
schema call a :class:`DeclaredFields` makes, through the callable it is given.

A field becomes the feature ``crm.<name>``, ``<name>`` its API name lower-cased as the admin wrote
it (``MRR_Rollup__c`` → ``crm.mrr_rollup__c``; HubSpot names are lower-case already). Its type is
read from Salesforce's describe or HubSpot's properties API, never declared: it is whatever the CRM
says, so a rule comparing a picklist with a number is refused however the config spells it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from connectors.columns import Column, boolean, day, instant, number, text
from core.errors import ConfigError, ConfigProblem

__all__ = [
    "CRM_PREFIX",
    "HUBSPOT_TYPES",
    "SALESFORCE_TYPES",
    "CrmType",
    "DeclaredFields",
    "check_report",
    "coerce",
    "extra_column",
    "feature_name",
    "resolve",
]

CrmType = Literal["number", "bool", "text", "date", "datetime"]
CRM_PREFIX = "crm."

SALESFORCE_TYPES: Mapping[str, CrmType] = {
    # describe's ``type`` (REST API › sObject Describe; Schema.DisplayType) → how upsync reads it
    "double": "number",
    "currency": "number",
    "percent": "number",  # 0–100, as the org shows it
    "int": "number",
    "long": "number",
    "boolean": "bool",
    "date": "date",
    "datetime": "datetime",
    "picklist": "text",
    "string": "text",
    "textarea": "text",
    "email": "text",
    "phone": "text",
    "url": "text",
    "combobox": "text",
    "id": "text",
    "reference": "text",
}
HUBSPOT_TYPES: Mapping[str, CrmType] = {
    # the properties API's ``type`` (developers.hubspot.com/docs/api/crm/properties) → how upsync reads it
    "number": "number",
    "bool": "bool",
    "date": "date",
    "datetime": "datetime",
    "enumeration": "text",
    "string": "text",
    "phone_number": "text",
}


def feature_name(api_name: str) -> str:
    """``MRR_Rollup__c`` → ``crm.mrr_rollup__c``: the rules' name of an extra field."""
    return CRM_PREFIX + api_name.lower()


def coerce(kind: CrmType, value: Any) -> Any:
    """A raw value (REST JSON, Bulk CSV or HubSpot string) as JSON of its type: a number, a bool,
    ``YYYY-MM-DD`` for a date, ISO-8601 UTC for a datetime, else text; None when empty."""
    if kind == "number":
        return number(value)
    if kind == "bool":
        return boolean(value)
    if kind == "date":
        on = day(value)
        return on.isoformat() if on else None
    if kind == "datetime":
        at = instant(value)
        return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None
    return text(value)


def extra_column(fields: Sequence[tuple[str, CrmType]]) -> Column:
    """``crm_fields``: the typed extra fields of a record, keyed by name lower-cased (``None`` when
    none are declared, so an account stored without them stays as it was)."""
    if not fields:
        return Column("crm_fields", (), lambda raw: None)
    return Column(
        "crm_fields",
        tuple(name for name, _ in fields),
        lambda raw: {name.lower(): coerce(kind, raw.get(name)) for name, kind in fields},
    )


def resolve(
    declared: Sequence[str],
    schema: Iterable[Mapping[str, Any]],
    *,
    types: Mapping[str, CrmType],
    path: str,
    owner: str,
) -> tuple[list[tuple[str, CrmType]], list[ConfigProblem]]:
    """The declared fields as the CRM names and types them ((API name, type), in order), and a
    problem for each that is missing or of a type upsync cannot read, named by its key path
    (``salesforce.extra_fields.Account[1]``). ``schema``: describe's ``fields`` or the properties."""
    by_lower = {str(f.get("name", "")).lower(): f for f in schema}
    found: list[tuple[str, CrmType]] = []
    problems: list[ConfigProblem] = []
    for i, name in enumerate(declared):
        spec = by_lower.get(name.lower())
        if spec is None:
            problems.append(
                ConfigProblem(
                    f"{path}[{i}]",
                    f"{owner} has no field {name!r}",
                    "check the API name in the CRM's object manager (Salesforce: Field Name with __c; "
                    "HubSpot: the property's internal name), or remove it",
                )
            )
            continue
        crm_type = str(spec.get("type", ""))
        kind = types.get(crm_type)
        if kind is None:
            problems.append(
                ConfigProblem(
                    f"{path}[{i}]",
                    f"{owner}.{name} is of type {crm_type!r}, which upsync cannot read",
                    f"extra fields may be of type {', '.join(sorted(types))}",
                )
            )
            continue
        found.append((str(spec["name"]), kind))
    return found, problems


class DeclaredFields:
    """One object's extra fields as declared (API names, key path), typed from the CRM's schema
    at the first need and kept for the life of the connector: one describe / properties call."""

    def __init__(
        self,
        declared: Sequence[str],
        *,
        path: str,
        owner: str,
        types: Mapping[str, CrmType],
        schema: Callable[[], Iterable[Mapping[str, Any]]],
    ) -> None:
        self.declared = tuple(declared)
        self.path = path
        self.owner = owner
        self._types = types
        self._schema = schema
        self._typed: list[tuple[str, CrmType]] | None = None
        self._labels: dict[str, str] = {}

    def typed(self) -> tuple[tuple[str, CrmType], ...]:
        """(API name, type) of each declared field; a ConfigError names any the CRM lacks."""
        if not self.declared:
            return ()
        if self._typed is None:
            schema = list(self._schema())
            found, problems = resolve(self.declared, schema, types=self._types, path=self.path, owner=self.owner)
            if problems:
                raise ConfigError(problems, hint="`upsync crm check` lists every field upsync reads")
            names = {name for name, _ in found}
            self._labels = {
                feature_name(str(f["name"])): str(f["label"])
                for f in schema
                if f.get("name") in names and str(f.get("label") or "").strip()
            }
            self._typed = found
        return tuple(self._typed)

    def feature_types(self) -> dict[str, CrmType]:
        """Feature name → type (``crm.mrr_rollup__c`` → number)."""
        return {feature_name(name): kind for name, kind in self.typed()}

    def feature_labels(self) -> dict[str, str]:
        """Feature name → the label the CRM shows (``crm.mrr_rollup__c`` → MRR Roll-up), for task bodies."""
        self.typed()
        return dict(self._labels)


def check_report(
    declared: Sequence[str],
    schema: Iterable[Mapping[str, Any]],
    *,
    types: Mapping[str, CrmType],
    path: str,
    owner: str,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(present, missing, what to do) of the declared extra fields, as ``upsync crm check`` prints
    them: each present one with its feature and type, each missing one with its key path."""
    found, problems = resolve(declared, schema, types=types, path=path, owner=owner)
    present = tuple(f"{owner}.{name} ({feature_name(name)}: {kind}, read)" for name, kind in found)
    missing = tuple(f"{p.path}: {p.message}" for p in problems)
    steps = tuple(f"{p.path}: {p.hint}" for p in problems if p.hint)
    return present, missing, steps
