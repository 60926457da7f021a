"""Data made safe for a CRM text field: cleaned of control characters, measured and cut as the CRMs count.

Sizes are counted in UTF-16 code units, as both CRMs count them; that is never less than
``len()``, so a text within the limit is within it either way.
"""

from __future__ import annotations

import re
import unicodedata

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufdd0-\ufdef\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3")
_ELLIPSIS = "…"


def clean(value: object) -> str:
    """Text safe to store and show: lone surrogates become U+FFFD (they cannot be sent as UTF-8),
    split pairs are joined, control and bidi-override characters go (newline and tab stay)."""
    s = value if isinstance(value, str) else str(value)
    if _SURROGATE.search(s):
        s = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return CONTROL.sub("", s)


def size(s: str) -> int:
    """Length in UTF-16 code units, as the CRMs count (an emoji outside the BMP counts 2)."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def _joins(ch: str) -> bool:
    return (
        ch in _JOINERS
        or unicodedata.combining(ch) > 0
        or 0x1F3FB <= ord(ch) <= 0x1F3FF
        or 0xE0020 <= ord(ch) <= 0xE007F
    )


def cut(s: str, limit: int) -> str:
    """``s`` within ``limit`` code units, cut on a character boundary with an ellipsis; never
    between a character and the mark, modifier or zero-width joiner that belongs to it."""
    if size(s) <= limit:
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
