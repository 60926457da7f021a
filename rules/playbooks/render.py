"""Rendering a task: its subject, and its body as plain text or HTML, fitted within the CRM's limit.

:func:`render_text` (Salesforce Task ``Description``: plain text, 32,000 characters) and
:func:`render_html` (HubSpot ``hs_task_body``: HTML, 65,536) turn a task's content and its
playbook into a body. Everything in it but upsync's own words is data from a CRM or a config
and may be hostile or huge: it is cleaned of control characters, escaped, cut with an ellipsis
and, when the whole still does not fit, the least useful sections go first. The sync-key footer
always stays: it is how a person (and support) traces a task back to its rule.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from rules.playbooks.clean import CONTROL, clean, cut, size
from rules.playbooks.config import Playbook, http_url
from rules.playbooks.document import CAPS, ESSENTIAL, OPTIONAL, Run, Section, TaskContent, document_of, footer, without


def render_subject(text: str, limit: int = 255) -> str:
    """A task subject: one line of clean text within ``limit`` (Salesforce Subject: 255)."""
    return cut(" ".join(clean(text).split()), limit)


# -- plain text ----------------------------------------------------------------------------------


def _plain(run: Run, cap: int) -> str:
    text = run.capped(cap)
    if run.href is not None:
        return f"{text} - {clean(run.href)}"
    return text


def _text_body(sections: Sequence[Section], cap: int, key: str) -> str:
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
    blocks.append(footer(key))
    return "\n\n".join(blocks)


# -- HTML ----------------------------------------------------------------------------------------


def _safe_href(url: str) -> bool:
    """Whether ``url`` may go in an href as it is: an http(s) URL a browser cannot misread."""
    try:
        return http_url(url, "href") == url.rstrip("/") and not CONTROL.search(url)
    except ValueError:
        return False


def _esc(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


def _html_run(run: Run, cap: int) -> str:
    text = run.capped(cap)
    if run.href is not None:
        if _safe_href(run.href):
            out = f'<a href="{html.escape(run.href, quote=True)}">{_esc(text)}</a>'
        else:
            out = _esc(f"{text} ({clean(run.href)})")
    else:
        out = _esc(text)
    return f"<strong>{out}</strong>" if run.strong else out


def _html_body(sections: Sequence[Section], cap: int, key: str) -> str:
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
    out.append(f"<p>{_esc(footer(key))}</p>")
    return "".join(out)


# -- fitting -------------------------------------------------------------------------------------


def _fit(
    content: TaskContent,
    playbook: Playbook,
    limit: int,
    render: Callable[[Sequence[Section], int, str], str],
) -> str:
    """The fullest body within ``limit``: values are cut to the largest cap that fits once the
    optional sections are dropped, least useful first; only then do the essentials go."""
    sections = document_of(content, playbook)
    for cap in CAPS:
        for level in range(len(OPTIONAL) + 1):
            out = render(without(sections, OPTIONAL[:level]), cap, content.key)
            if size(out) <= limit:
                return out
    for level in range(1, len(ESSENTIAL) + 1):
        out = render(without(sections, OPTIONAL + ESSENTIAL[:level]), CAPS[-1], content.key)
        if size(out) <= limit:
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
