"""The playbook config: a playbook and its parts, validated where they are built, and the lookups on them.

A playbook is what a rep does about a signal: questions to ask, what to demo and in which
order, proof from similar customers, the price band and discount ceiling of the account's
segment, good–better–best options, a step-up bundle, the outcome to promise and, optionally,
an offer that runs out. Each type is a frozen dataclass validated in ``__post_init__`` so that
``[[playbooks]]`` in config.toml is checked where it loads (a ValueError names the key) and a
playbook built in code is held to the same rules.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlsplit

from rules.expr import Type
from rules.features import FEATURES

Scalar = float | int | str | None
"""One evidence value; None is unknown."""

_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_URL_BAD = re.compile(r"[\s\x00-\x1f\x7f-\x9f<>\"'`\\]")
_MAX_URL = 2048
_DATE_FEATURES = tuple(f.name for f in FEATURES if f.type is Type.date)
_NUMBER_FEATURES = tuple(f.name for f in FEATURES if f.type is Type.number)
DEFAULT_BAND = "default"
"""The ``pricing`` key used when the account's segment is unknown or has no band of its own."""


# -- validation helpers ------------------------------------------------------------------------


def http_url(value: str, name: str) -> str:
    """``value`` if it is an absolute http(s) URL a browser cannot misread, without a trailing slash."""
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or _URL_BAD.search(url)
        or len(url) > _MAX_URL
    ):
        shown = url if len(url) <= 80 else url[:80] + "…"
        raise ValueError(
            f"{name} must be an absolute http:// or https:// URL without spaces or quotes, e.g. "
            f"https://playbooks.example.com/renewal (got {shown!r})"
        )
    return url.rstrip("/")


def _text(value: str, name: str) -> None:
    if not value.strip():
        raise ValueError(f"{name} must not be empty")


def _texts(values: Sequence[str], name: str) -> None:
    for i, v in enumerate(values):
        if not v.strip():
            raise ValueError(f"{name}[{i}] must not be empty")


def _placeholders(template: str, name: str) -> tuple[str, ...]:
    """The ``{feature}`` names of a template; anything format_map could trip on is refused here,
    at load, so that rendering never raises."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{name} is not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    names = []
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if not (field_name.isidentifier() or re.fullmatch(r"crm\.[A-Za-z_][A-Za-z0-9_]*", field_name)):
            raise ValueError(f"{name}: {{{field_name}}} must name one feature, e.g. {{seats_used}}")
        if conversion is not None or (spec and "{" in spec):
            raise ValueError(f"{name}: {{{field_name}}} may take a format spec (:.0%) but no !conversion or nesting")
        if spec and re.search(r"\d{3,}", spec):
            raise ValueError(f"{name}: {{{field_name}:{spec}}}: width and precision go up to 99")
        names.append(field_name)
    return tuple(dict.fromkeys(names))


# -- the playbook's parts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of a sequence (A4), due ``offset_days`` from the anchor (-90: T-90) or, with
    ``in_anchor_month``, on the first day of the anchor's month (the renewal-month trial)."""

    id: str
    title: str
    what: str = ""
    offset_days: int | None = None
    in_anchor_month: bool = False

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"step id {self.id!r} must be lowercase words joined by '-', e.g. review-outcomes")
        _text(self.title, "title")
        if (self.offset_days is None) == (not self.in_anchor_month):
            raise ValueError(f"step {self.id}: set exactly one of offset_days (e.g. -90) or in_anchor_month = true")
        if self.offset_days is not None and not -3650 <= self.offset_days <= 0:
            raise ValueError(
                f"step {self.id}: offset_days must be between -3650 and 0, days before the anchor"
                f" (got {self.offset_days})"
            )

    def due(self, anchor: date) -> date:
        """When the step is due for this anchor, before any catching up."""
        if self.in_anchor_month:
            return anchor.replace(day=1)
        assert self.offset_days is not None
        return anchor + timedelta(days=self.offset_days)


RENEWAL_STEPS: tuple[Step, ...] = (
    Step(
        id="review-outcomes",
        title="Review outcomes",
        what="Walk the customer through this term's results against the goals they bought for.",
        offset_days=-90,
    ),
    Step(
        id="demo-higher-tier",
        title="Demo the higher tier",
        what="Show what the next plan adds, on their own data and use cases.",
        offset_days=-75,
    ),
    Step(
        id="share-case",
        title="Share a similar customer's case",
        what="Send the case study of a customer of their size and industry that moved up.",
        offset_days=-60,
    ),
    Step(
        id="rough-quote",
        title="Send a rough quote",
        what="A rough quote for renewal plus the higher tier, within the segment's price band.",
        offset_days=-45,
    ),
    Step(
        id="higher-tier-trial",
        title="Offer a trial of the higher tier",
        what="In the renewal month, switch on the higher tier as a trial until the contract renews.",
        in_anchor_month=True,
    ),
)
"""A4's renewal sequence from T-90: the ``renewal`` playbook in config.toml spells these out."""


def _default_bounds() -> dict[str, float]:
    return {"smb": 100, "mid": 1000}


@dataclass(frozen=True, slots=True, kw_only=True)
class Segments:
    """Which segment an account is in, for its price band and case studies (A6): the first of
    ``below`` whose bound ``feature`` is under, else ``top``. Defaults: employees under 100 are
    smb, under 1000 mid, the rest enterprise."""

    feature: str = "employees"
    below: Mapping[str, float] = field(default_factory=_default_bounds)
    top: str = "enterprise"

    def __post_init__(self) -> None:
        if self.feature not in _NUMBER_FEATURES:
            raise ValueError(f"segments.feature {self.feature!r} must be a number feature, e.g. employees or arr")
        for name in (*self.below, self.top):
            if not _ID.match(name) or name == DEFAULT_BAND:
                raise ValueError(f"segment name {name!r} must be lowercase words joined by '-', and not 'default'")
        if self.top in self.below:
            raise ValueError(f"segments.top {self.top!r} is also in segments.below")
        bounds = list(self.below.values())
        if any(b <= 0 for b in bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("segments.below bounds must be positive and distinct")

    @property
    def names(self) -> tuple[str, ...]:
        return (*sorted(self.below, key=lambda n: self.below[n]), self.top)


_DEFAULT_SEGMENTS = Segments()


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStudy:
    """Social proof (A3): a customer like this one and what they got; ``segment`` puts it first
    for accounts of that segment."""

    title: str
    outcome: str
    url: str | None = None
    segment: str | None = None

    def __post_init__(self) -> None:
        _text(self.title, "case_studies.title")
        _text(self.outcome, "case_studies.outcome")
        if self.url is not None:
            object.__setattr__(self, "url", http_url(self.url, "case_studies.url"))


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceBand:
    """A6: the price range to quote in one segment and the discount a rep may give without
    asking ("up to x% without approval"), decided in advance so small precise discounts win."""

    range: str
    max_discount_pct: float = 0
    approval: str = ""

    def __post_init__(self) -> None:
        _text(self.range, "pricing.range")
        if not 0 <= self.max_discount_pct <= 100:
            raise ValueError(f"pricing.max_discount_pct must be between 0 and 100 (got {self.max_discount_pct})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    """One option of good–better–best."""

    name: str
    summary: str = ""
    price: str = ""
    recommended: bool = False

    def __post_init__(self) -> None:
        _text(self.name, "options.tiers.name")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """A5: two higher options over ``current`` plan, or three tiers; one is recommended, the
    middle one unless a tier says ``recommended = true`` (with two, the first: the middle of
    current, first, second)."""

    current: str = ""
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        if len(self.tiers) not in (2, 3):
            raise ValueError(
                f"options.tiers must hold 2 options over the current plan or 3 tiers (good, better, best); "
                f"got {len(self.tiers)}"
            )
        if sum(t.recommended for t in self.tiers) > 1:
            raise ValueError("options.tiers: at most one tier may be recommended")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("options.tiers: each tier needs its own name")

    @property
    def recommended(self) -> int:
        """The index of the recommended tier."""
        marked = [i for i, t in enumerate(self.tiers) if t.recommended]
        return marked[0] if marked else (1 if len(self.tiers) == 3 else 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepUp:
    """A9: a small bundle to try for ``trial_days`` before the full upgrade (``then``)."""

    name: str
    trial_days: int
    then: str

    def __post_init__(self) -> None:
        _text(self.name, "step_up.name")
        _text(self.then, "step_up.then")
        if not 1 <= self.trial_days <= 365:
            raise ValueError(f"step_up.trial_days must be between 1 and 365 (got {self.trial_days})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A11: an offer that runs out, until ``valid_until`` (inclusive) or in the listed ``months``
    ("2026-12"); an expired offer is left out of the task."""

    text: str
    valid_until: date | None = None
    months: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _text(self.text, "offer.text")
        if (self.valid_until is None) == (not self.months):
            raise ValueError('offer needs exactly one of valid_until (a date) or months (e.g. ["2026-12"])')
        for m in self.months:
            if not _MONTH.match(m):
                raise ValueError(f"offer.months: {m!r} must be a month as YYYY-MM, e.g. 2026-12")

    def valid_on(self, day: date) -> bool:
        if self.valid_until is not None:
            return day <= self.valid_until
        return f"{day:%Y-%m}" in self.months


@dataclass(frozen=True, slots=True, kw_only=True)
class Playbook:
    """What a rep does about a signal, linked from every task (A3).

    ``outcome`` (A10) may name features, ``{seats_used}``: they are filled from the task's evidence
    (unknown ones show as ``?``). ``steps`` make the playbook a sequence anchored on the date feature
    ``anchor`` (A4): one task per step, each due on its own date.
    """

    id: str
    title: str
    url: str
    hearing_points: tuple[str, ...] = ()
    demo_order: tuple[str, ...] = ()
    case_studies: tuple[CaseStudy, ...] = ()
    pricing: Mapping[str, PriceBand] = field(default_factory=dict)
    segments: Segments = field(default_factory=Segments)
    options: Options | None = None
    step_up: StepUp | None = None
    outcome: str = ""
    offer: Offer | None = None
    steps: tuple[Step, ...] = ()
    anchor: str = "contract_end"

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"id {self.id!r} must be lowercase words joined by '-', e.g. seat-expansion")
        _text(self.title, "title")
        object.__setattr__(self, "url", http_url(self.url, "url"))
        _texts(self.hearing_points, "hearing_points")
        _texts(self.demo_order, "demo_order")
        known = (*self.segments.names, DEFAULT_BAND)
        for segment in self.pricing:
            if segment not in known:
                raise ValueError(f"pricing.{segment}: unknown segment; segments are {', '.join(known)}")
        for i, case in enumerate(self.case_studies):
            if case.segment is not None and case.segment not in self.segments.names:
                raise ValueError(
                    f"case_studies[{i}].segment {case.segment!r} is unknown; segments are "
                    f"{', '.join(self.segments.names)}"
                )
        _placeholders(self.outcome, "outcome")
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("steps: each step needs its own id (it is part of the task's key)")
        if self.anchor not in _DATE_FEATURES:
            raise ValueError(f"anchor {self.anchor!r} must be a date feature: {', '.join(_DATE_FEATURES)}")


def features_needed(playbook: Playbook) -> tuple[str, ...]:
    """Features a task body of this playbook reads from the evidence besides the rule's own:
    the anchor of a sequence, the segment feature, the outcome's placeholders. Pass them as the
    engine's ``extra`` so they are in every action's evidence."""
    names: list[str] = []
    if playbook.steps:
        names.append(playbook.anchor)
    if playbook.pricing or any(c.segment for c in playbook.case_studies):
        names.append(playbook.segments.feature)
    names.extend(_placeholders(playbook.outcome, "outcome"))
    return tuple(dict.fromkeys(names))


# -- sequences and segments --------------------------------------------------------------------


def sequence_due(playbook: Playbook, anchor: date, today: date) -> list[tuple[Step, date]]:
    """Each step of the playbook's sequence with its due date, in the playbook's order.

    A step whose date has passed is due ``today``: a sequence started late (T-80) catches up
    rather than creating overdue tasks. Once the anchor itself has passed there is nothing left
    to prepare for, so no steps at all."""
    if today > anchor:
        return []
    return [(step, max(step.due(anchor), today)) for step in playbook.steps]


def _number(value: Scalar) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None  # NaN is unknown
    try:
        return float(value)
    except ValueError:
        return None


def segment_of(evidence: Mapping[str, Scalar], segments: Segments | None = None) -> str | None:
    """The account's segment from its evidence (``employees`` by default), or None when unknown."""
    seg = segments or _DEFAULT_SEGMENTS
    value = _number(evidence.get(seg.feature))
    if value is None:
        return None
    for name in seg.names[:-1]:
        if value < seg.below[name]:
            return name
    return seg.top


def price_band(playbook: Playbook, evidence: Mapping[str, Scalar]) -> tuple[str, PriceBand] | None:
    """The segment and the band to quote in: the segment's own, else the ``default`` band."""
    segment = segment_of(evidence, playbook.segments)
    if segment is not None and segment in playbook.pricing:
        return segment, playbook.pricing[segment]
    if DEFAULT_BAND in playbook.pricing:
        return DEFAULT_BAND, playbook.pricing[DEFAULT_BAND]
    return None
