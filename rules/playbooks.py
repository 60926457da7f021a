"""Playbooks (A3, A5, A6, A9–A11), the renewal sequence (A4) and safe task bodies. Pure.

A playbook is what a rep does about a signal: questions to ask, what to demo and in which
order, proof from similar customers, the price band and discount ceiling of the account's
segment, good–better–best options, a step-up bundle, the outcome to promise and, optionally,
an offer that runs out. Each type is a frozen dataclass validated in ``__post_init__`` so that
``[[playbooks]]`` in config.toml is checked where it loads (a ValueError names the key) and a
playbook built in code is held to the same rules.

:func:`render_text` (Salesforce Task ``Description``: plain text, 32,000 characters) and
:func:`render_html` (HubSpot ``hs_task_body``: HTML, 65,536) turn a task's content and its
playbook into a body. Everything in it but upsync's own words is data from a CRM or a config
and may be hostile or huge: it is cleaned of control characters, escaped, cut with an ellipsis
and, when the whole still does not fit, the least useful sections go first. The sync-key footer
always stays: it is how a person (and support) traces a task back to its rule.

Sizes are counted in UTF-16 code units, as both CRMs count them; that is never less than
``len()``, so a body within the limit is within it either way.
"""

from __future__ import annotations

import html
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlsplit

from rules.expr import Type
from rules.features import FEATURES

__all__ = [
    "RENEWAL_STEPS",
    "CaseStudy",
    "Offer",
    "Options",
    "Playbook",
    "PriceBand",
    "Segments",
    "Step",
    "StepUp",
    "TaskContent",
    "Tier",
    "features_needed",
    "price_band",
    "render_html",
    "render_subject",
    "render_text",
    "segment_of",
    "sequence_due",
]

Scalar = float | int | str | None

_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_URL_BAD = re.compile(r"[\s\x00-\x1f\x7f-\x9f<>\"'`\\]")
_MAX_URL = 2048
_DATE_FEATURES = tuple(f.name for f in FEATURES if f.type is Type.date)
_NUMBER_FEATURES = tuple(f.name for f in FEATURES if f.type is Type.number)
DEFAULT_BAND = "default"
"""The ``pricing`` key used when the account's segment is unknown or has no band of its own."""


# -- validation helpers ------------------------------------------------------------------------


def _http_url(value: str, name: str) -> str:
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
        if not field_name.isidentifier():
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
            object.__setattr__(self, "url", _http_url(self.url, "case_studies.url"))


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
        object.__setattr__(self, "url", _http_url(self.url, "url"))
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


# -- task content --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContent:
    """Everything a task body says that is not the playbook: whose task, which rule, why now."""

    account_name: str
    rule_id: str
    rule_title: str
    kind: str
    signal: str
    reasons: tuple[str, ...] = ()
    owner_note: str = ""
    lifecycle: str = ""
    evidence: Mapping[str, Scalar] = field(default_factory=dict)
    offer: str | None = None
    key: str
    step: Step | None = None
    as_of: date


# -- cleaning and cutting data -------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufdd0-\ufdef\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3")
_ELLIPSIS = "…"


def _clean(value: object) -> str:
    """Text safe to store and show: lone surrogates become U+FFFD (they cannot be sent as UTF-8),
    split pairs are joined, control and bidi-override characters go (newline and tab stay)."""
    s = value if isinstance(value, str) else str(value)
    if _SURROGATE.search(s):
        s = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return _CONTROL.sub("", s)


def _size(s: str) -> int:
    """Length in UTF-16 code units, as the CRMs count (an emoji outside the BMP counts 2)."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def _joins(ch: str) -> bool:
    return (
        ch in _JOINERS
        or unicodedata.combining(ch) > 0
        or 0x1F3FB <= ord(ch) <= 0x1F3FF
        or 0xE0020 <= ord(ch) <= 0xE007F
    )


def _cut(s: str, limit: int) -> str:
    """``s`` within ``limit`` code units, cut on a character boundary with an ellipsis; never
    between a character and the mark, modifier or zero-width joiner that belongs to it."""
    if _size(s) <= limit:
        return s
    if limit <= 1:
        return _ELLIPSIS[:limit]
    units, end = 0, 0
    for i, ch in enumerate(s):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit - 1:
            end = i
            break
    floor = max(0, end - 16)
    while end > floor and (_joins(s[end]) or s[end - 1] == "\u200d"):
        end -= 1
    return s[:end].rstrip() + _ELLIPSIS


def render_subject(text: str, limit: int = 255) -> str:
    """A task subject: one line of clean text within ``limit`` (Salesforce Subject: 255)."""
    return _cut(" ".join(_clean(text).split()), limit)


def _show(value: Scalar) -> str:
    """An evidence value for a person: 12 not 12.0, 0.923 not 0.92345678, "unknown" for None."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "unknown"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


class _Filled:
    """An evidence value in an outcome template: formats with the template's spec when it can,
    plainly when it cannot (a text under ``:.0%``), so a template never raises."""

    __slots__ = ("value",)

    def __init__(self, value: Scalar) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        if self.value is None:
            return "?"
        if spec:
            try:
                return format(self.value, spec)
            except (ValueError, TypeError):
                pass
        return _show(self.value)


class _Evidence(dict[str, _Filled]):
    def __missing__(self, key: str) -> _Filled:
        return _Filled(None)


def _outcome(template: str, evidence: Mapping[str, Scalar]) -> str:
    try:
        return template.format_map(_Evidence({k: _Filled(v) for k, v in evidence.items()}))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):  # a template built in code, unchecked
        return template


# -- the body as a document ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    """Inline text: ``data`` is cut to the current cap (upsync's own words never are)."""

    text: str
    data: bool = True
    strong: bool = False
    href: str | None = None  # a link: text is its label


_Line = tuple[_Run, ...]


@dataclass(frozen=True, slots=True)
class _Part:
    tag: str  # what it is, for dropping when the body is too long
    lines: tuple[_Line, ...]
    label: str = ""
    bullets: bool = False


@dataclass(frozen=True, slots=True)
class _Section:
    heading: str
    parts: tuple[_Part, ...]


_CAPS = (1000, 300, 100, 40, 16)
"""Per-value lengths tried in turn: a value longer than the cap is cut with an ellipsis."""
_OPTIONAL = (
    "proof",
    "demo",
    "evidence",
    "hearing",
    "step-up",
    "options",
    "offer-timebox",
    "reasons-more",
    "price",
    "owner",
    "step-what",
    "outcome",
)
"""What goes first when a body is too long, least useful first (A3–A11 content before why-now)."""
_ESSENTIAL = ("offered", "reason", "step", "header", "link")
"""Dropped only when even the shortest values do not fit; the footer is never dropped."""


def _d(value: object) -> _Run:
    return _Run(_cut(_clean(value), _CAPS[0]))


def _t(text: str, *, strong: bool = False) -> _Run:
    return _Run(text, data=False, strong=strong)


def _document(content: TaskContent, playbook: Playbook) -> list[_Section]:
    ev = content.evidence
    signal = (_d(content.signal), _t(" ")) if content.signal else ()
    header = [
        _Part("header", ((_t("Account: "), _Run(_cut(_clean(content.account_name), _CAPS[0]), strong=True)),)),
        _Part(
            "header",
            (
                (
                    _t("Signal: "),
                    *signal,
                    _d(content.rule_title),
                    _t(" (rule "),
                    _d(content.rule_id),
                    _t(", "),
                    _d(content.kind),
                    _t("); lifecycle "),
                    _d(content.lifecycle or "unknown"),
                    _t(f"; as of {content.as_of.isoformat()}."),
                ),
            ),
        ),
    ]
    if content.owner_note:
        header.append(_Part("owner", ((_t("Owner: "), _d(content.owner_note)),)))
    sections = [_Section("", tuple(header))]

    reasons = [r for r in content.reasons if r.strip()] or ["(no reason given)"]
    values = [(_d(k), _t(": "), _d(_show(v))) for k, v in ev.items()]
    sections.append(
        _Section(
            "Why now",
            (
                _Part("reason", ((_d(reasons[0]),),), bullets=True),
                _Part("reasons-more", tuple((_d(r),) for r in reasons[1:]), bullets=True),
                _Part("evidence", tuple(values), label="Values:", bullets=True),
            ),
        )
    )

    step = content.step
    if step is not None:
        ids = [s.id for s in playbook.steps]
        where = f" {ids.index(step.id) + 1} of {len(ids)}" if step.id in ids else ""
        anchor = ev.get(playbook.anchor)
        when = (_t(" ("), _d(playbook.anchor), _t(" "), _d(str(anchor)[:10]), _t(")")) if anchor is not None else ()
        sections.append(
            _Section(
                f"Step{where}",
                (
                    _Part("step", ((_Run(_cut(_clean(step.title), _CAPS[0]), strong=True), *when),)),
                    _Part("step-what", ((_d(step.what),),) if step.what.strip() else ()),
                ),
            )
        )

    sections.append(
        _Section(
            "What to do",
            (
                _Part("hearing", tuple((_d(q),) for q in playbook.hearing_points), label="Ask:", bullets=True),
                _Part(
                    "demo",
                    tuple((_t(f"{i}. "), _d(x)) for i, x in enumerate(playbook.demo_order, 1)),
                    label="Show, in this order:",
                    bullets=True,
                ),
            ),
        )
    )

    offer_parts = []
    if content.offer:
        offer_parts.append(
            _Part("offered", ((_t("Offer: "), _Run(_cut(_clean(content.offer), _CAPS[0]), strong=True)),))
        )
    if playbook.outcome:
        offer_parts.append(_Part("outcome", ((_t("Outcome: "), _d(_outcome(playbook.outcome, ev))),)))
    if playbook.options is not None:
        opts = playbook.options
        label = "Options over the current plan" + (f" ({_cut(_clean(opts.current), 80)}):" if opts.current else ":")
        tiers = []
        for i, tier in enumerate(opts.tiers):
            line: list[_Run] = [_Run(_cut(_clean(tier.name), _CAPS[0]), strong=i == opts.recommended)]
            if i == opts.recommended:
                line.append(_t(" (recommended)", strong=True))
            if tier.price:
                line += [_t(", "), _d(tier.price)]
            if tier.summary:
                line += [_t(": "), _d(tier.summary)]
            tiers.append(tuple(line))
        offer_parts.append(_Part("options", tuple(tiers), label=label, bullets=True))
    if playbook.step_up is not None:
        su = playbook.step_up
        offer_parts.append(
            _Part(
                "step-up",
                (
                    (
                        _t("Step-up: start with "),
                        _d(su.name),
                        _t(f" for a {su.trial_days}-day trial, then "),
                        _d(su.then),
                        _t("."),
                    ),
                ),
            )
        )
    band = price_band(playbook, ev)
    if band is not None:
        segment, pb = band
        line = [_t(f"Price band ({segment}): "), _d(pb.range)]
        line.append(_t(f"; up to {pb.max_discount_pct:g}% discount without approval"))
        if pb.approval:
            line += [_t("; beyond that: "), _d(pb.approval)]
        offer_parts.append(_Part("price", (tuple(line),)))
    if playbook.offer is not None and playbook.offer.valid_on(content.as_of):
        o = playbook.offer
        until = f"until {o.valid_until.isoformat()}" if o.valid_until else f"in {content.as_of:%Y-%m} only"
        offer_parts.append(_Part("offer-timebox", ((_t(f"Time-boxed ({until}): "), _d(o.text)),)))
    sections.append(_Section("Offer", tuple(offer_parts)))

    own = segment_of(ev, playbook.segments)
    cases = sorted(playbook.case_studies, key=lambda c: 0 if c.segment == own else 1 if c.segment is None else 2)
    proof: list[_Line] = []
    for c in cases:
        line = [_d(c.title), _t(": "), _d(c.outcome)]
        if c.url:
            line += [_t(" ("), _Run("case study", data=False, href=c.url), _t(")")]
        proof.append(tuple(line))
    sections.append(_Section("Proof", (_Part("proof", tuple(proof), bullets=True),)))

    sections.append(
        _Section(
            "",
            (
                _Part(
                    "link",
                    ((_t("Playbook: "), _Run(_cut(_clean(playbook.title), _CAPS[0]), href=playbook.url)),),
                ),
            ),
        )
    )
    return sections


def _without(sections: Sequence[_Section], tags: Iterable[str]) -> list[_Section]:
    drop = set(tags)
    out = []
    for s in sections:
        parts = tuple(p for p in s.parts if p.tag not in drop and p.lines)
        if parts:
            out.append(_Section(s.heading, parts))
    return out


def _footer(key: str) -> str:
    return f"Created by upsync; sync key {_clean(key)}."


def _safe_href(url: str) -> bool:
    try:
        return _http_url(url, "href") == url.rstrip("/") and not _CONTROL.search(url)
    except ValueError:
        return False


# -- plain text ----------------------------------------------------------------------------------


def _plain(run: _Run, cap: int) -> str:
    text = _cut(run.text, cap) if run.data else run.text
    if run.href is not None:
        return f"{text} - {_clean(run.href)}"
    return text


def _text_body(sections: Sequence[_Section], cap: int, key: str) -> str:
    blocks = []
    for s in sections:
        lines = [f"{s.heading}:"] if s.heading else []
        for p in s.parts:
            if p.label:
                lines.append(p.label)
            for line in p.lines:
                text = "".join(_plain(r, cap) for r in line)
                if p.bullets:
                    text = "- " + text.replace("\n", "\n  ")
                lines.append(text)
        blocks.append("\n".join(lines))
    blocks.append(_footer(key))
    return "\n\n".join(blocks)


# -- HTML ----------------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


def _html_run(run: _Run, cap: int) -> str:
    text = _cut(run.text, cap) if run.data else run.text
    if run.href is not None:
        if _safe_href(run.href):
            out = f'<a href="{html.escape(run.href, quote=True)}">{_esc(text)}</a>'
        else:
            out = _esc(f"{text} ({_clean(run.href)})")
    else:
        out = _esc(text)
    return f"<strong>{out}</strong>" if run.strong else out


def _html_body(sections: Sequence[_Section], cap: int, key: str) -> str:
    out = []
    for s in sections:
        if s.heading:
            out.append(f"<p><strong>{_esc(s.heading)}</strong></p>")
        in_list = False  # consecutive unlabelled lists are one list
        for p in s.parts:
            if in_list and not (p.bullets and not p.label):
                out.append("</ul>")
                in_list = False
            if p.label:
                out.append(f"<p>{_esc(p.label)}</p>")
            rendered = ["".join(_html_run(r, cap) for r in line) for line in p.lines]
            if p.bullets:
                if not in_list:
                    out.append("<ul>")
                    in_list = True
                out.extend(f"<li>{r}</li>" for r in rendered)
            else:
                out.extend(f"<p>{r}</p>" for r in rendered)
        if in_list:
            out.append("</ul>")
    out.append(f"<p>{_esc(_footer(key))}</p>")
    return "".join(out)


# -- fitting -------------------------------------------------------------------------------------


def _fit(
    content: TaskContent,
    playbook: Playbook,
    limit: int,
    render: Callable[[Sequence[_Section], int, str], str],
) -> str:
    """The fullest body within ``limit``: values are cut to the largest cap that fits once the
    optional sections are dropped, least useful first; only then do the essentials go."""
    sections = _document(content, playbook)
    for cap in _CAPS:
        for level in range(len(_OPTIONAL) + 1):
            out = render(_without(sections, _OPTIONAL[:level]), cap, content.key)
            if _size(out) <= limit:
                return out
    for level in range(1, len(_ESSENTIAL) + 1):
        out = render(_without(sections, _OPTIONAL + _ESSENTIAL[:level]), _CAPS[-1], content.key)
        if _size(out) <= limit:
            return out
    raise ValueError(f"a task body limit of {limit} cannot hold even the sync-key footer")


def render_text(content: TaskContent, playbook: Playbook, *, limit: int = 32_000) -> str:
    """The task body as plain text (Salesforce Task ``Description``: 32,000 characters)."""
    return _fit(content, playbook, limit, _text_body)


def render_html(content: TaskContent, playbook: Playbook, *, limit: int = 65_536) -> str:
    """The task body as HTML (HubSpot ``hs_task_body``): only p, br, ul, li, strong and a (href,
    http/https only); every value escaped; balanced at any length, since values are cut before
    they are escaped and whole elements are dropped, never a string of markup."""
    return _fit(content, playbook, limit, _html_body)
