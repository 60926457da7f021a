"""HubSpot's HUBSPOT_DEFINED association types, in both directions, and their names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from sandbox.hubspot.object_types import JSON, SINGULAR
from sandbox.hubspot.values import INT_RE


class AssociationType(NamedTuple):
    """One HUBSPOT_DEFINED association type, in one direction.

    ``label`` is what v4 reads report (``"Primary"``, ``"Parent Company"``; ``None`` for the
    unlabeled type), ``name`` what v3 object reads put in ``associations.*.results[].type``,
    ``inverse`` the type id of the same association read from the other side.
    """

    type_id: int
    from_type: str
    to_type: str
    label: str | None
    name: str
    inverse: int


def _pair(
    from_type: str, to_type: str, type_id: int, inverse: int, label: str | None = None, suffix: str = ""
) -> tuple[AssociationType, AssociationType]:
    one, other = SINGULAR[from_type], SINGULAR[to_type]
    return (
        AssociationType(type_id, from_type, to_type, label, f"{one}_to_{other}{suffix}", inverse),
        AssociationType(inverse, to_type, from_type, label, f"{other}_to_{one}{suffix}", type_id),
    )


# HubSpot's v4 "Association type ID values" table (developers.hubspot.com/docs/api/crm/associations-v4,
# section "Association type ID values"), cross-checked against the constants of HubSpot's own
# client (hubspot-api-ruby Hubspot::Helpers::AssociationType) and HubSpot's JS constants for the
# unlabeled 279/280, 339/340, 341/342 types. Primary types imply their unlabeled twin (IMPLIED).
ASSOCIATION_TYPES: Final[tuple[AssociationType, ...]] = (
    *_pair("contacts", "companies", 1, 2, "Primary"),
    *_pair("contacts", "companies", 279, 280, suffix="_unlabeled"),
    *_pair("deals", "companies", 5, 6, "Primary"),
    *_pair("deals", "companies", 341, 342, suffix="_unlabeled"),
    *_pair("deals", "contacts", 3, 4),
    *_pair("tickets", "companies", 26, 25, "Primary"),
    *_pair("tickets", "companies", 339, 340, suffix="_unlabeled"),
    *_pair("tickets", "contacts", 16, 15),
    *_pair("tickets", "deals", 28, 27),
    *_pair("line_items", "deals", 20, 19),
    AssociationType(13, "companies", "companies", "Parent Company", "parent_to_child_company", 14),
    AssociationType(14, "companies", "companies", "Child Company", "child_to_parent_company", 13),
    AssociationType(450, "companies", "companies", None, "company_to_company", 450),
    *_pair("calls", "companies", 182, 181),
    *_pair("calls", "contacts", 194, 193),
    *_pair("calls", "deals", 206, 205),
    *_pair("calls", "tickets", 220, 219),
    *_pair("emails", "companies", 186, 185),
    *_pair("emails", "contacts", 198, 197),
    *_pair("emails", "deals", 210, 209),
    *_pair("emails", "tickets", 224, 223),
    *_pair("meetings", "companies", 188, 187),
    *_pair("meetings", "contacts", 200, 199),
    *_pair("meetings", "deals", 212, 211),
    *_pair("meetings", "tickets", 226, 225),
    *_pair("notes", "companies", 190, 189),
    *_pair("notes", "contacts", 202, 201),
    *_pair("notes", "deals", 214, 213),
    *_pair("notes", "tickets", 228, 227),
    *_pair("tasks", "companies", 192, 191),
    *_pair("tasks", "contacts", 204, 203),
    *_pair("tasks", "deals", 216, 215),
    *_pair("tasks", "tickets", 230, 229),
)
"""Every HUBSPOT_DEFINED association type the stand-in knows, both directions."""

_ASSOC_BY_ID: Final = {t.type_id: t for t in ASSOCIATION_TYPES}
ASSOC_TARGET: Final = {(t.from_type, t.type_id): t.to_type for t in ASSOCIATION_TYPES}
ASSOC_INVERSE: Final = {t.type_id: t.inverse for t in ASSOCIATION_TYPES}
# A primary (or parent/child) association is always also an unlabeled one: HubSpot reports both
# (a deal's primary company comes back as typeId 5 "Primary" and 341 unlabeled).
IMPLIED: Final = {1: 279, 2: 280, 5: 341, 6: 342, 26: 339, 25: 340, 13: 450, 14: 450}


def association_name(from_type: str, to_type: str, type_id: int) -> str:
    """The v3 name of an association type (``deal_to_company_unlabeled``), for object reads."""
    known = _ASSOC_BY_ID.get(type_id)
    if known is not None and known.from_type == from_type:
        return known.name
    return f"{SINGULAR.get(from_type, from_type)}_to_{SINGULAR.get(to_type, to_type)}"


def v4_target(to_id: str, type_ids: Sequence[int]) -> JSON:
    return {
        "toObjectId": int(to_id) if INT_RE.fullmatch(to_id) else to_id,
        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": None} for t in type_ids],
    }
