"""Search filter groups and free-text queries: which live objects a search matches, in id order."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sandbox.hubspot.backend import id_key
from sandbox.hubspot.errors import validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.search_filters import Predicate, compile_filter, text_tokens
from sandbox.hubspot.search_ranges import Range
from sandbox.hubspot.sizes import MAX_FILTER_GROUPS, MAX_FILTERS, MAX_FILTERS_PER_GROUP

# The text properties a free-text search ``query`` looks in (developers.hubspot.com/docs/api/crm/search,
# "Search default searchable properties").
_QUERY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email", "company"),
    "deals": ("dealname",),
    "products": ("name", "description", "hs_sku"),
    "line_items": ("name",),
    "tickets": ("subject", "content"),
    "tasks": ("hs_task_subject", "hs_task_body"),
    "calls": ("hs_call_title", "hs_call_body"),
    "meetings": ("hs_meeting_title", "hs_meeting_body"),
    "emails": ("hs_email_subject", "hs_email_text"),
    "notes": ("hs_note_body",),
}


@dataclass
class _Group:
    """One filter group: its date ranges (applied first, they narrow fastest) and its other checks."""

    ranges: dict[str, Range] = field(default_factory=dict)
    checks: list[Predicate] = field(default_factory=list)

    def add(self, compiled: Predicate | Range) -> None:
        if isinstance(compiled, Range):
            known = self.ranges.get(compiled.name)
            self.ranges[compiled.name] = compiled if known is None else known.intersect(compiled)
        else:
            self.checks.append(compiled)

    def select(
        self, objects: Iterable[JSON], index: Callable[[Range], list[JSON]] | None = None, indexed: str = ""
    ) -> list[JSON]:
        """The live (not archived) objects that pass every filter of the group.

        With an ``index`` and a range on the ``indexed`` property, the candidates (a superset of
        the matches) come from ``index(range)`` instead of ``objects``; every range is still applied.
        """
        ranges = list(self.ranges.values())
        if index is not None and indexed in self.ranges:
            objects = index(self.ranges[indexed])
        if ranges:
            survivors = ranges[0].apply(objects, live_only=True)
            for extra in ranges[1:]:
                survivors = extra.apply(survivors)
        else:
            survivors = [obj for obj in objects if not obj.get("archived")]
        for check in self.checks:
            survivors = [obj for obj in survivors if check(obj)]
        return survivors


def compile_groups(props: Mapping[str, JSON], groups: Any) -> list[_Group]:
    """Filter groups: filters ANDed within a group, groups ORed."""
    if groups in (None, []):
        return []
    if not isinstance(groups, list):
        raise validation("Invalid input JSON: filterGroups must be a list")
    if len(groups) > MAX_FILTER_GROUPS:
        raise validation(
            f"Too many filter groups: {len(groups)}. The maximum is {MAX_FILTER_GROUPS}.",
            context={"filterGroups": [str(len(groups))]},
        )
    total = 0
    compiled: list[_Group] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation("Invalid input JSON: each filter group needs a list of filters")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation(
                f"Too many filters in a filter group: {len(filters)}. The maximum is {MAX_FILTERS_PER_GROUP}.",
                context={"filters": [str(len(filters))]},
            )
        total += len(filters)
        one = _Group()
        for spec in filters:
            one.add(compile_filter(props, spec))
        compiled.append(one)
    if total > MAX_FILTERS:
        raise validation(
            f"Too many filters: {total}. A search can contain at most {MAX_FILTERS} filters in total.",
            context={"filters": [str(total)]},
        )
    return compiled


def narrow(
    objects: Collection[JSON],
    groups: Sequence[_Group],
    *,
    modified: str = "",
    index: Callable[[], Callable[[Range], list[JSON]]] | None = None,
) -> list[JSON]:
    """Live objects matching any group, ascending by numeric id (HubSpot's default order).

    A group whose first range is on the ``modified`` date takes its candidates from ``index()``
    (built on first use) instead of a pass over every object.
    """

    def select(group: _Group) -> list[JSON]:
        if index is not None and modified in group.ranges:
            return group.select(objects, index(), modified)
        return group.select(objects)

    if not groups:
        matched = [obj for obj in objects if not obj.get("archived")]
    elif len(groups) == 1:
        matched = select(groups[0])
    else:
        union: dict[int, JSON] = {}
        for group in groups:
            union.update((id(obj), obj) for obj in select(group))
        matched = list(union.values())
    matched.sort(key=id_key)  # tables are mostly in id order already: nearly linear
    return matched


def query_predicate(object_type: str, query: Any) -> Predicate | None:
    """Free-text ``query``: every word must start a token of one of the type's default searchable properties."""
    if not isinstance(query, str) or not query.strip():
        return None
    words = text_tokens(query.lower())
    fields = _QUERY_FIELDS.get(object_type, ("name",))

    def matches(obj: Mapping[str, Any]) -> bool:
        tokens = [t for f in fields for t in text_tokens(str(obj["properties"].get(f) or "").lower())]
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return matches
