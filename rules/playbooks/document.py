"""A task body as a document: its sections, parts and runs of text, before any markup or fitting."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rules.features.labels import value_list
from rules.playbooks.clean import clean, cut
from rules.playbooks.config import Playbook, Scalar, Step, price_band, segment_of


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContent:
    """Everything a task body says that is not the playbook: whose task, which rule, why now."""

    account_name: str
    rule_id: str
    rule_title: str
    kind: str
    signal: str
    reasons: tuple[str, ...] = ()
    owner: str = ""  # who the task is for, in words: "Aiko Tanaka (customer success)"
    lifecycle: str = ""
    evidence: Mapping[str, Scalar] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)  # the CRM's labels of its fields (crm.<name>)
    offer: str | None = None
    key: str
    step: Step | None = None
    as_of: date


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


class _Names(string.Formatter):
    """A field is one feature name, dotted or not (``{crm.tier}``): looked up whole, never as an attribute."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return kwargs[field_name], field_name


def _outcome(template: str, evidence: Mapping[str, Scalar]) -> str:
    try:
        return _Names().vformat(template, (), _Evidence({k: _Filled(v) for k, v in evidence.items()}))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):  # a template built in code, unchecked
        return template


@dataclass(frozen=True, slots=True)
class Run:
    """Inline text: ``data`` is cut to the current cap (upsync's own words never are)."""

    text: str
    data: bool = True
    strong: bool = False
    href: str | None = None  # a link: text is its label

    def capped(self, cap: int) -> str:
        """The text as shown when values are cut to ``cap``."""
        return cut(self.text, cap) if self.data else self.text


Line = tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class Part:
    """A paragraph, or a list, of the body."""

    tag: str  # what it is, for dropping when the body is too long
    lines: tuple[Line, ...]
    label: str = ""
    bullets: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    """Parts under one heading ("" for none). An ``inline`` section holding a single line shows
    it without its heading: the line names itself ("Offer: …"), a heading over it would be noise."""

    heading: str
    parts: tuple[Part, ...]
    inline: bool = False


CAPS = (1000, 300, 100, 40, 16)
"""Per-value lengths tried in turn: a value longer than the cap is cut with an ellipsis."""
OPTIONAL = (
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
ESSENTIAL = ("offered", "reason", "step", "header", "link")
"""Dropped only when even the shortest values do not fit; the footer is never dropped."""


def _d(value: object, *, strong: bool = False, href: str | None = None) -> Run:
    """Data: cleaned, and cut to the largest cap at once (rendering cuts it further)."""
    return Run(cut(clean(value), CAPS[0]), strong=strong, href=href)


def _t(text: str, *, strong: bool = False, href: str | None = None) -> Run:
    """upsync's own words: never cleaned nor cut."""
    return Run(text, data=False, strong=strong, href=href)


def document_of(content: TaskContent, playbook: Playbook) -> list[Section]:
    """The whole body of one task, every part its content and playbook call for, before fitting."""
    ev = content.evidence
    signal = (_d(content.signal), _t(" ")) if content.signal else ()
    header = [
        Part("header", ((_t("Account: "), _d(content.account_name, strong=True)),)),
        Part(
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
    if content.owner:
        header.append(Part("owner", ((_t("Owner: "), _d(content.owner)),)))
    sections = [Section("", tuple(header))]

    reasons = [r for r in content.reasons if r.strip()] or ["(no reason given)"]
    values = [(_d(label), _t(": "), _d(text)) for label, text in value_list(ev, content.labels)]
    sections.append(
        Section(
            "Why now",
            (
                Part("reason", ((_d(reasons[0]),),), bullets=True),
                Part("reasons-more", tuple((_d(r),) for r in reasons[1:]), bullets=True),
                Part("evidence", tuple(values), label="Values:", bullets=True),
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
            Section(
                f"Step{where}",
                (
                    Part("step", ((_d(step.title, strong=True), *when),)),
                    Part("step-what", ((_d(step.what),),) if step.what.strip() else ()),
                ),
            )
        )

    sections.append(
        Section(
            "What to do",
            (
                Part("hearing", tuple((_d(q),) for q in playbook.hearing_points), label="Ask:", bullets=True),
                Part(
                    "demo",
                    tuple((_t(f"{i}. "), _d(x)) for i, x in enumerate(playbook.demo_order, 1)),
                    label="Show, in this order:",
                    bullets=True,
                ),
                # the outcome is what the rep aims for, not an offer: it closes what to do
                Part("outcome", ((_t("Aim for: "), _d(_outcome(playbook.outcome, ev))),) if playbook.outcome else ()),
            ),
        )
    )

    offer_parts = []
    if content.offer:
        offer_parts.append(Part("offered", ((_t("Offer: "), _d(content.offer, strong=True)),)))
    if playbook.options is not None:
        opts = playbook.options
        label = "Options over the current plan" + (f" ({cut(clean(opts.current), 80)}):" if opts.current else ":")
        tiers = []
        for i, tier in enumerate(opts.tiers):
            line: list[Run] = [_d(tier.name, strong=i == opts.recommended)]
            if i == opts.recommended:
                line.append(_t(" (recommended)", strong=True))
            if tier.price:
                line += [_t(", "), _d(tier.price)]
            if tier.summary:
                line += [_t(": "), _d(tier.summary)]
            tiers.append(tuple(line))
        offer_parts.append(Part("options", tuple(tiers), label=label, bullets=True))
    if playbook.step_up is not None:
        su = playbook.step_up
        offer_parts.append(
            Part(
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
        offer_parts.append(Part("price", (tuple(line),)))
    if playbook.offer is not None and playbook.offer.valid_on(content.as_of):
        o = playbook.offer
        until = f"until {o.valid_until.isoformat()}" if o.valid_until else f"in {content.as_of:%Y-%m} only"
        offer_parts.append(Part("offer-timebox", ((_t(f"Time-boxed ({until}): "), _d(o.text)),)))
    sections.append(Section("Offer", tuple(offer_parts), inline=True))

    own = segment_of(ev, playbook.segments)
    cases = sorted(playbook.case_studies, key=lambda c: 0 if c.segment == own else 1 if c.segment is None else 2)
    proof: list[Line] = []
    for c in cases:
        line = [_d(c.title), _t(": "), _d(c.outcome)]
        if c.url:
            line += [_t(" ("), _t("case study", href=c.url), _t(")")]
        proof.append(tuple(line))
    sections.append(Section("Proof", (Part("proof", tuple(proof), bullets=True),)))

    sections.append(
        Section(
            "",
            (
                Part(
                    "link",
                    ((_t("Playbook: "), _d(playbook.title, href=playbook.url)),),
                ),
            ),
        )
    )
    return sections


def without(sections: Sequence[Section], tags: Iterable[str]) -> list[Section]:
    """The sections less the parts tagged ``tags``; empty parts and sections go too."""
    drop = set(tags)
    out = []
    for s in sections:
        parts = tuple(p for p in s.parts if p.tag not in drop and p.lines)
        if not parts:
            continue
        single = len(parts) == 1 and len(parts[0].lines) == 1 and not parts[0].label and not parts[0].bullets
        out.append(Section("" if s.inline and single else s.heading, parts))
    return out


def footer(key: str) -> str:
    """The body's last line, which fitting never drops: it traces the task back to its rule."""
    return f"Created by upsync; sync key {clean(key)}."
