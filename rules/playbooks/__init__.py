"""Playbooks (A3, A5, A6, A9–A11), the renewal sequence (A4) and safe task bodies. Pure.

:mod:`~rules.playbooks.config` holds the playbook and its parts, validated where they are built,
with the lookups on them (a sequence's due steps, an account's segment and price band).
Rendering a task body from a :class:`TaskContent` and its playbook runs through
:mod:`~rules.playbooks.clean` (CRM-safe text within a length), :mod:`~rules.playbooks.document`
(the body's sections, before markup) and :mod:`~rules.playbooks.render` (subject, plain text,
HTML, fitted within the CRM's limit). Import from the package.
"""

from rules.playbooks.config import (
    RENEWAL_STEPS,
    CaseStudy,
    Offer,
    Options,
    Playbook,
    PriceBand,
    Segments,
    Step,
    StepUp,
    Tier,
    features_needed,
    price_band,
    segment_of,
    sequence_due,
)
from rules.playbooks.document import TaskContent
from rules.playbooks.render import render_html, render_subject, render_text

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
