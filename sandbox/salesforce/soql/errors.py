"""SOQL errors as Salesforce reports them: the REST error code and a located message."""

from __future__ import annotations


class SoqlError(Exception):
    """A query Salesforce would refuse; ``error_code`` and ``message`` form its REST error body."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


def _located(text: str, pos: int, reason: str) -> str:
    """Salesforce's error layout: an excerpt of the query line, a caret, the row/column, the reason."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    lo = max(0, col - 1 - 60)
    excerpt = line[lo : col - 1 + 60]
    caret = " " * (col - 1 - lo) + "^"
    return f"\n{excerpt}\n{caret}\nERROR at Row:{row}:Column:{col}\n{reason}"


def located_error(code: str, text: str, pos: int, reason: str) -> SoqlError:
    return SoqlError(code, _located(text, pos, reason))
