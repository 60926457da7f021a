"""``[usage.resources.<name>]``: a usage API of any common shape, declared in dlt ``rest_api``'s words.

A resource is one endpoint: its ``path`` (with ``{placeholders}`` resolved from a parent
resource's items), static ``params``, where its items are (``data_selector``), how it pages
(``paginator``), how it reads incrementally (``incremental``) and how one item becomes a
canonical record (``fields``). Two names are streams: ``daily`` (required: the usage rows) and
``workspaces`` (optional: the identity list, for the domain fallback); any other resource only
serves as a parent.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from core.config import Section

__all__ = [
    "DAILY",
    "UNITS",
    "WORKSPACES",
    "FieldRule",
    "Incremental",
    "Paginator",
    "Resolve",
    "Resource",
]

DAILY = "daily"
WORKSPACES = "workspaces"

UNITS: dict[str, tuple[int, int]] = {
    "B": (1, 10**9),
    "KB": (1, 10**6),
    "MB": (1, 10**3),
    "GB": (1, 1),
    "TB": (10**3, 1),
    "KiB": (2**10, 10**9),
    "MiB": (2**20, 10**9),
    "GiB": (2**30, 10**9),
    "TiB": (2**40, 10**9),
}
"""Storage units → gigabytes (the canonical ``storage_*_gb``), SI and IEC, as the fraction
(numerator, denominator): ``83500 MB × 1 / 1000`` is exactly 83.5, where ``× 0.001`` is not."""

_PLACEHOLDER = re.compile(r"{([^{}]+)}")

PaginatorType = Literal["cursor", "json_link", "header_link", "page_number", "offset", "single_page"]

_NEEDS: dict[str, tuple[str, ...]] = {
    "cursor": ("cursor_path",),
    "json_link": ("next_url_path",),
}
_HINTS: dict[str, str] = {
    "cursor_path": "the dotted path of the next page's token in the body, e.g. 'meta.next_cursor'",
    "next_url_path": "the dotted path of the next page's URL in the body, e.g. 'links.next'",
}


class Paginator(Section):
    """How a resource pages (dlt's paginator types and parameter names)."""

    type: PaginatorType
    cursor_path: str | None = Field(None, validate_default=True)
    cursor_param: str = "cursor"
    next_url_path: str | None = Field(None, validate_default=True)
    links_next_key: str = "next"
    page_param: str = "page"
    base_page: int = Field(1, ge=0)
    offset_param: str = "offset"
    total_path: str | None = None

    @field_validator("cursor_path", "next_url_path", mode="after")
    @classmethod
    def _required_for_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        name = info.field_name or ""
        if value is None and name in _NEEDS.get(str(kind), ()):
            raise ValueError(f"required for type = {kind!r}: {_HINTS[name]}")
        return value


class Resolve(Section):
    """A path parameter taken from each item of a parent resource (dlt: ``type = "resolve"``)."""

    type: Literal["resolve"]
    resource: str
    field: str


class FieldRule(Section):
    """Where a canonical value is in one item, and how it is turned into it (pure transforms)."""

    path: str
    transform: Literal["counts", "length", "date"] | None = None
    key: str = "name"
    value: str = "count"
    unit: str | None = None

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, value: str | None) -> str | None:
        if value is not None and value not in UNITS:
            raise ValueError(f"unknown unit {value!r}; one of {', '.join(UNITS)}")
        return value


class Incremental(Section):
    """Read only what is new: by a modification time (``mode = "modified"``: ``[start, end)`` as
    ISO instants, a lookback of ``usage.lookback_seconds``), or by day windows (``mode = "days"``:
    complete days only, re-reading ``lookback_days`` before the last one read)."""

    mode: Literal["modified", "days"] = "modified"
    start_param: str
    end_param: str | None = None
    date_format: str = "%Y-%m-%d"
    end_inclusive: bool = True
    lookback_days: int = Field(1, ge=0)
    initial_value: date | None = None


class Resource(Section):
    """One endpoint of the usage API (dlt ``rest_api``'s resource)."""

    path: str
    params: dict[str, str | int | float | bool | Resolve] = Field(default_factory=dict)
    data_selector: str = ""
    paginator: Paginator = Field(default_factory=lambda: Paginator(type="single_page"))
    page_size_param: str | None = None
    max_page_size: int | None = Field(None, ge=1)
    page_size: int | None = Field(None, ge=1)
    include_from_parent: list[str] = Field(default_factory=list)
    include_from_response: list[str] = Field(default_factory=list)
    incremental: Incremental | None = None
    fields: dict[str, FieldRule | None] = Field(default_factory=dict)

    @field_validator("fields", mode="before")
    @classmethod
    def _paths_as_rules(cls, value: object) -> object:
        """A dotted path is a rule without a transform; ``false`` switches a value off (None)."""
        if not isinstance(value, dict):
            return value
        return {k: {"path": v} if isinstance(v, str) else None if v is False else v for k, v in value.items()}

    @field_validator("page_size")
    @classmethod
    def _within_max(cls, value: int | None, info: ValidationInfo) -> int | None:
        most = info.data.get("max_page_size")
        if value is not None and most is not None and value > most:
            raise ValueError(f"{value} is over max_page_size ({most}); leave it out to ask for the maximum")
        return value

    @model_validator(mode="after")
    def _placeholders_resolved(self) -> Resource:
        resolved = self.resolved
        missing = sorted(self.placeholders() - set(resolved))
        if missing:
            raise ValueError(
                f"path {self.path!r} has {{{missing[0]}}} but params.{missing[0]} does not resolve it; "
                f'add params.{missing[0]} = {{ type = "resolve", resource = "<parent>", field = "<its field>" }}'
            )
        if len({r.resource for r in resolved.values()}) > 1:
            raise ValueError("params resolve from more than one parent resource; one parent per resource")
        if self.include_from_parent and not resolved:
            raise ValueError("include_from_parent needs a parent: a params entry with type = 'resolve'")
        return self

    @property
    def parent(self) -> str | None:
        """The resource whose items fill this one's path (at most one, as in dlt)."""
        for value in self.params.values():
            if isinstance(value, Resolve):
                return value.resource
        return None

    @property
    def resolved(self) -> dict[str, Resolve]:
        return {name: value for name, value in self.params.items() if isinstance(value, Resolve)}

    @property
    def effective_page_size(self) -> int | None:
        """What is asked for: the configured size, else the API's maximum (fewest calls)."""
        return self.page_size or self.max_page_size

    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.path))


def check_resources(resources: dict[str, Resource]) -> None:
    """Cross-resource checks: parents exist and have no parent; ``daily`` reads incrementally;
    ``fields`` name canonical values. ValueError naming the key path and what would fix it."""
    from connectors.usage.rest.transforms import DAILY_NAMES, WORKSPACE_NAMES

    for name, resource in resources.items():
        where = f"usage.resources.{name}"
        parent = resource.parent
        if parent is not None:
            if parent not in resources:
                known = ", ".join(sorted(resources)) or "none"
                raise ValueError(f"{where}.params: resolves from resource {parent!r}, which is not declared ({known})")
            if resources[parent].parent is not None:
                raise ValueError(f"{where}.params: its parent {parent!r} has a parent itself; one level of fan-out")
        if name == DAILY and resource.incremental is None:
            raise ValueError(
                f"{where}.incremental: required (mode = 'modified' with start_param, or mode = 'days' with "
                "start_param/end_param): the daily resource is read incrementally"
            )
        if name not in (DAILY, WORKSPACES) and resource.fields:
            raise ValueError(f"{where}.fields: only 'daily' and 'workspaces' map fields (this one is a parent)")
        valid = WORKSPACE_NAMES if name == WORKSPACES else DAILY_NAMES
        for key in resource.fields:
            if key not in valid:
                raise ValueError(f"{where}.fields.{key}: not a canonical name; valid: {', '.join(valid)}")
