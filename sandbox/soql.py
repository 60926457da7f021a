"""Parse and evaluate the subset of SOQL that the Salesforce stand-in serves.

Three steps, each pure: ``parse`` turns text into a ``Query`` (syntax only), ``compile_query``
checks it against sObject metadata and builds closures (no ``eval``), and
``CompiledQuery.select``/``snapshot`` filter, sort and slice plain row dicts: one linear pass
(``IsDeleted`` and the WHERE clause together, a ``ts >= a AND ts < b`` window as one range
test) and one C-level sort of row positions per ORDER BY key, with the garbage collector held
off meanwhile, so a table of a million activities answers in about a second.

The semantics follow Salesforce, not SQL, because the client code under test must survive
the real thing:

- logic is two-valued: ``Field != 'x'`` and ``NOT IN`` match rows whose field is null;
- text comparisons and ``LIKE`` ignore case; ``AND`` and ``OR`` cannot be mixed without
  parentheses;
- datetime literals are unquoted and compared as instants; a quoted datetime, or a literal of
  the wrong type, is refused as Salesforce refuses it;
- ``ORDER BY`` puts nulls first ascending and last descending unless told otherwise.

Errors are ``SoqlError`` carrying the REST ``errorCode`` and a message laid out as Salesforce
lays it out (the query excerpt, a caret, ``ERROR at Row:r:Column:c`` and the reason).
"""

from __future__ import annotations

import gc
import operator
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

__all__ = [
    "MAX_OFFSET",
    "CompiledQuery",
    "Condition",
    "FieldRef",
    "OrderItem",
    "Query",
    "Schema",
    "SoqlError",
    "Value",
    "canonical_datetime",
    "canonical_or_none",
    "compile_query",
    "gc_paused",
    "parse",
    "parse_datetime",
    "prepare",
]

# Salesforce refuses OFFSET above 2,000 (SOQL and SOSL Reference › OFFSET).
MAX_OFFSET = 2000

Schema = Mapping[str, Mapping[str, str]]
"""sObject name → field name → describe ``type`` (``string``, ``datetime``, ``reference``…)."""

STRING_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "combobox", "url", "email", "phone"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

_RESERVED = frozenset(
    {
        *("SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET"),
        *("NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS", "FIRST", "LAST", "GROUP", "HAVING", "WITH"),
        *("USING", "FOR", "INCLUDES", "EXCLUDES", "TYPEOF"),
    }
)
# Relative date literals (TODAY, LAST_N_DAYS:n…) are real SOQL the sandbox does not evaluate.
_DATE_LITERALS = re.compile(r"^(TODAY|YESTERDAY|TOMORROW|(LAST|NEXT|THIS)_\w+)$", re.IGNORECASE)


class SoqlError(Exception):
    """A query Salesforce would refuse; ``error_code`` and ``message`` form its REST error body."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


# --- syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field as written in the query (``Name``, ``account.Name``) and where it was written."""

    path: str
    pos: int


ValueKind = Literal["string", "number", "boolean", "null", "date", "datetime"]


@dataclass(frozen=True, slots=True)
class Value:
    """A literal: ``value`` is a ``str``, ``int``, ``float``, ``bool``, ``None``, ``date`` or aware ``datetime``."""

    kind: ValueKind
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldRef
    op: Literal["=", "!=", "<", "<=", ">", ">="]
    value: Value


@dataclass(frozen=True, slots=True)
class Membership:
    field: FieldRef
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Like:
    field: FieldRef
    pattern: Value


@dataclass(frozen=True, slots=True)
class Junction:
    op: Literal["AND", "OR"]
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Negation:
    item: Condition


Condition = Comparison | Membership | Like | Junction | Negation


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query; names are as written, not yet checked against any metadata."""

    text: str
    sobject: str
    sobject_pos: int
    alias: str | None
    fields: tuple[FieldRef, ...]
    count: bool
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


# --- errors laid out like Salesforce's -----------------------------------------------------


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


def _error(code: str, text: str, pos: int, reason: str) -> SoqlError:
    return SoqlError(code, _located(text, pos, reason))


# --- tokens --------------------------------------------------------------------------------

TokenKind = Literal["ident", "string", "number", "date", "datetime", "op", "punct", "eof"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str
    value: Any
    pos: int

    def keyword(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


_LEXEME = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))(?![\w:.+-])
    |(?P<baddate>\d{4}-\d{2}-\d{2}[T\d:.+-][^\s),]*)
    |(?P<date>\d{4}-\d{2}-\d{2})(?![\w:.])
    |(?P<number>[+-]?(?:\d+(?:\.\d+)?|\.\d+))(?![\w.])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),])
    """,
    re.VERBOSE,
)

_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a quoted literal from ``start`` (the opening quote); return its value and the end offset.

    ``\\%`` and ``\\_`` keep their backslash: they only mean something inside LIKE patterns.
    """
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in "%_":
                out.append("\\" + nxt)
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            close = text.find("'", i + 2)
            literal = text[start + 1 : close if close >= 0 else n]
            raise _error(
                "MALFORMED_QUERY",
                text,
                start,
                f"Invalid string literal '{literal}'. Illegal character sequence '\\{nxt}' in string literal.",
            )
        out.append(ch)
        i += 1
    raise _error("MALFORMED_QUERY", text, start, f"line 1:{start} mismatched character '<EOF>' expecting '''")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos] == "'":
            value, end = _read_string(text, pos)
            tokens.append(_Token("string", text[pos:end], value, pos))
            pos = end
            continue
        m = _LEXEME.match(text, pos)
        if m is None:
            row = text.count("\n", 0, pos) + 1
            col = pos - (text.rfind("\n", 0, pos) + 1)
            raise _error(
                "MALFORMED_QUERY", text, pos, f"line {row}:{col} no viable alternative at character '{text[pos]}'"
            )
        kind = m.lastgroup
        lexeme = m.group()
        if kind == "datetime":
            tokens.append(_Token("datetime", lexeme, datetime.fromisoformat(lexeme), pos))
        elif kind == "date":
            try:
                day = date.fromisoformat(lexeme)
            except ValueError:
                raise _error("MALFORMED_QUERY", text, pos, f"unexpected token: '{lexeme}'") from None
            tokens.append(_Token("date", lexeme, day, pos))
        elif kind == "baddate":
            raise _error("MALFORMED_QUERY", text, pos, f"unexpected token: '{lexeme}'")
        elif kind == "number":
            number: int | float = float(lexeme) if "." in lexeme else int(lexeme)
            tokens.append(_Token("number", lexeme, number, pos))
        elif kind in ("ident", "op", "punct"):
            tokens.append(_Token(kind, lexeme, lexeme, pos))  # type: ignore[arg-type]
        pos = m.end()
    tokens.append(_Token("eof", "<EOF>", None, n))
    return tokens


# --- parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def unexpected(self, tok: _Token | None = None) -> SoqlError:
        tok = tok or self.tok
        shown = "<EOF>" if tok.kind == "eof" else tok.text if tok.kind == "string" else f"'{tok.text}'"
        return _error("MALFORMED_QUERY", self.text, tok.pos, f"unexpected token: {shown}")

    def unsupported(self, tok: _Token, what: str) -> SoqlError:
        return _error("MALFORMED_QUERY", self.text, tok.pos, f"the upsync sandbox does not support {what}")

    def expect_keyword(self, word: str) -> _Token:
        if not self.tok.keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, ch: str) -> _Token:
        if self.tok.kind != "punct" or self.tok.text != ch:
            raise self.unexpected()
        return self.advance()

    def at_punct(self, ch: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == ch

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        count, fields = self.select_list()
        self.expect_keyword("FROM")
        obj = self.advance()
        if obj.kind != "ident" or obj.text.upper() in _RESERVED or "." in obj.text:
            raise self.unexpected(obj)
        alias: str | None = None
        if self.tok.kind == "ident" and self.tok.text.upper() not in _RESERVED:
            alias = self.advance().text
        where = None
        if self.tok.keyword("WHERE"):
            self.advance()
            where = self.condition()
        if self.tok.keyword("WITH", "GROUP", "HAVING"):
            raise self.unsupported(self.tok, f"{self.tok.text.upper()} clauses")
        order: list[OrderItem] = []
        if self.tok.keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            order.append(self.order_item())
            while self.at_punct(","):
                self.advance()
                order.append(self.order_item())
        limit = self.integer_clause("LIMIT")
        offset = self.integer_clause("OFFSET")
        if self.tok.keyword("FOR", "UPDATE", "ALL"):
            raise self.unsupported(self.tok, f"{self.tok.text.upper()} clauses")
        if self.tok.kind != "eof":
            raise self.unexpected()
        return Query(
            text=self.text,
            sobject=obj.text,
            sobject_pos=obj.pos,
            alias=alias,
            fields=tuple(fields),
            count=count,
            where=where,
            order_by=tuple(order),
            limit=limit,
            offset=offset,
        )

    def select_list(self) -> tuple[bool, list[FieldRef]]:
        if self.tok.keyword("COUNT") and self.tokens[self.i + 1].text == "(":
            count_tok = self.advance()
            self.advance()
            if not self.at_punct(")"):
                raise self.unsupported(count_tok, "COUNT(field) or other aggregate functions; use COUNT()")
            self.advance()
            return True, []
        fields = [self.field_ref()]
        while self.at_punct(","):
            self.advance()
            fields.append(self.field_ref())
        return False, fields

    def field_ref(self) -> FieldRef:
        tok = self.advance()
        if tok.kind == "punct" and tok.text == "(":
            raise self.unsupported(tok, "subqueries")
        if tok.kind != "ident" or tok.text.upper() in _RESERVED or ":" in tok.text:
            raise self.unexpected(tok)
        if self.at_punct("("):
            raise self.unsupported(tok, f"the function {tok.text}()")
        return FieldRef(tok.text, tok.pos)

    def integer_clause(self, word: str) -> int | None:
        if not self.tok.keyword(word):
            return None
        self.advance()
        tok = self.advance()
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.unexpected(tok)
        return int(tok.value)

    def order_item(self) -> OrderItem:
        field = self.field_ref()
        descending = False
        if self.tok.keyword("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_first = not descending
        if self.tok.keyword("NULLS"):
            self.advance()
            if not self.tok.keyword("FIRST", "LAST"):
                raise self.unexpected()
            nulls_first = self.advance().text.upper() == "FIRST"
        return OrderItem(field, descending, nulls_first)

    def condition(self) -> Condition:
        first = self.unary()
        if not self.tok.keyword("AND", "OR"):
            return first
        op: Literal["AND", "OR"] = "AND" if self.tok.text.upper() == "AND" else "OR"
        items = [first]
        while self.tok.keyword("AND", "OR"):
            if self.tok.text.upper() != op:  # SOQL has no precedence: mixing needs parentheses
                raise self.unexpected()
            self.advance()
            items.append(self.unary())
        return Junction(op, tuple(items))

    def unary(self) -> Condition:
        if self.tok.keyword("NOT"):
            self.advance()
            return Negation(self.unary())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        field = self.field_ref()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(field, op, self.literal())  # type: ignore[arg-type]
        if tok.keyword("LIKE"):
            self.advance()
            return Like(field, self.literal())
        if tok.keyword("IN"):
            self.advance()
            return Membership(field, self.literal_list(), negated=False)
        if tok.keyword("NOT") and self.tokens[self.i + 1].keyword("IN"):
            self.advance()
            self.advance()
            return Membership(field, self.literal_list(), negated=True)
        if tok.keyword("INCLUDES", "EXCLUDES"):
            raise self.unsupported(tok, f"{tok.text.upper()} on multi-select picklists")
        raise self.unexpected()

    def literal_list(self) -> tuple[Value, ...]:
        self.expect_punct("(")
        if self.tok.keyword("SELECT"):
            raise self.unsupported(self.tok, "semi-joins (IN (SELECT ...))")
        values = [self.literal()]
        while self.at_punct(","):
            self.advance()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Value:
        tok = self.advance()
        if tok.kind in ("string", "number", "date", "datetime"):
            return Value(tok.kind, tok.value, tok.pos)
        if tok.keyword("TRUE", "FALSE"):
            return Value("boolean", tok.text.upper() == "TRUE", tok.pos)
        if tok.keyword("NULL"):
            return Value("null", None, tok.pos)
        if tok.kind == "ident" and _DATE_LITERALS.match(tok.text.split(":")[0]):
            raise self.unsupported(tok, f"the relative date literal {tok.text}; send an absolute datetime")
        raise self.unexpected(tok)


def parse(text: str) -> Query:
    """Parse ``text``; raises ``SoqlError`` (``MALFORMED_QUERY``) naming the unexpected token."""
    return _Parser(text).query()


# --- values --------------------------------------------------------------------------------


def _format_datetime(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def canonical_datetime(value: str | datetime) -> str:
    """The REST form ``2026-11-23T09:15:00.000+0000`` (UTC, milliseconds) of a datetime.

    Strings in that form sort in instant order, so comparisons need no parsing on the hot
    path; any other ISO-8601 string (``Z``, ``+09:00``, no milliseconds, no zone = UTC) is
    parsed and re-formatted. Raises ``ValueError`` for anything else.
    """
    if isinstance(value, datetime):
        at = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _format_datetime(at)
    if len(value) == 28 and value[10] == "T" and value[19] == "." and value.endswith("+0000"):
        return value
    if len(value) < 19 or value[10] != "T":
        raise ValueError(f"not a datetime: {value!r}")
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return _format_datetime(at)


def parse_datetime(value: str | datetime) -> datetime:
    """An aware UTC ``datetime`` from anything ``canonical_datetime`` accepts."""
    return datetime.fromisoformat(canonical_datetime(value))


def canonical_or_none(value: Any) -> str | None:
    """``canonical_datetime`` of a stored value; None for null or an unreadable value (never raises).

    Stored rows come from the API (canonical) and from tests writing the store directly
    (anything): a bad value must not fail a whole request.
    """
    result: str | None = _norm_datetime(value)
    return result


Normalizer = Callable[[Any], Any]


def _norm_text(value: Any) -> Any:
    return None if value is None else str(value).casefold()


def _norm_id(value: Any) -> Any:
    # 15- and 18-character forms of an Id name the same record.
    return None if value is None else str(value)[:15]


def _norm_number(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _norm_bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _norm_date(value: Any) -> Any:
    return None if value is None else str(value)[:10]


def _norm_datetime(value: Any) -> Any:
    # Fast path first: the store keeps datetimes in the canonical REST form.
    if value.__class__ is str and len(value) == 28 and value.endswith("+0000"):
        return value
    if value is None:
        return None
    return _slow_datetime(value)


def _slow_datetime(value: Any) -> Any:
    try:
        return canonical_datetime(value)
    except (TypeError, ValueError):
        return None


def _norm_raw(value: Any) -> Any:
    return value


_TYPE_WORD = {
    "int": "integer",
    "double": "double",
    "currency": "currency",
    "percent": "percent",
    "boolean": "boolean",
    "date": "date",
    "datetime": "dateTime",
}


@dataclass(frozen=True, slots=True)
class _Column:
    name: str  # canonical
    type: str
    compare: Normalizer  # for filters
    sort: Normalizer  # for ORDER BY


def _column(name: str, type_: str) -> _Column:
    if type_ in ID_TYPES:
        return _Column(name, type_, _norm_id, _norm_raw)
    if type_ in NUMBER_TYPES:
        return _Column(name, type_, _norm_number, _norm_number)
    if type_ == "boolean":
        return _Column(name, type_, _norm_bool, _norm_bool)
    if type_ == "date":
        return _Column(name, type_, _norm_date, _norm_date)
    if type_ == "datetime":
        return _Column(name, type_, _norm_datetime, _norm_datetime)
    return _Column(name, type_, _norm_text, _norm_text)


# --- compilation ---------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class _SortKey:
    column: _Column
    descending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query checked against metadata: canonical names plus a row predicate and sort keys."""

    sobject: str
    fields: tuple[str, ...]
    count: bool
    matches: Predicate
    order: tuple[_SortKey, ...]
    limit: int | None
    offset: int

    def select(self, rows: Iterable[Mapping[str, Any]], *, include_deleted: bool = True) -> list[Mapping[str, Any]]:
        """The matching rows, ordered, after OFFSET and LIMIT (rows are returned, not copied).

        ``include_deleted=False`` drops rows whose ``IsDeleted`` is true in the same pass, as
        ``query`` (unlike ``queryAll``) does.
        """
        with gc_paused():
            kept = self._filter(rows, include_deleted)
            if self.order:
                order = _order(kept, self.order)
                return [kept[i] for i in self._window(order)]
            return self._window(kept)

    def snapshot(
        self,
        rows: Iterable[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        include_deleted: bool = True,
    ) -> list[tuple[Any, ...]]:
        """``select`` as value tuples of ``columns`` (a field missing from a row is null).

        This is what a query cursor or a Bulk job keeps: later writes to the store do not
        change it. Tuples are built in the table's own order (memory locality) and then
        permuted, which is markedly faster on large tables than building them in sort order.
        """
        with gc_paused():
            kept = self._filter(rows, include_deleted)
            if self.order:
                order = self._window(_order(kept, self.order))
                if len(order) < len(kept) // 4:  # a small window: build only the tuples it needs
                    return _tuples([kept[i] for i in order], columns)
                values = _tuples(kept, columns)
                return [values[i] for i in order]
            return _tuples(self._window(kept), columns)

    def _filter(self, rows: Iterable[Mapping[str, Any]], include_deleted: bool) -> list[Mapping[str, Any]]:
        matches = self.matches
        if include_deleted:
            return list(rows) if matches is _always else [r for r in rows if matches(r)]
        if matches is _always:
            return [r for r in rows if r.get("IsDeleted") is not True]
        return [r for r in rows if r.get("IsDeleted") is not True and matches(r)]

    def _window(self, items: list[_T]) -> list[_T]:
        end = None if self.limit is None else self.offset + self.limit
        return items[self.offset : end] if self.offset or end is not None else items


_T = TypeVar("_T")
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a query builds its lists and tuples.

    A store of a million rows is a million live dicts: every collection the allocations
    trigger walks all of them, which otherwise costs more than the query itself. Nothing
    built here is cyclic, so nothing is lost by collecting later. Nested and concurrent
    pauses share one counter; the collector's state is restored when the last one ends.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _tuples(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """One tuple of ``columns`` per row (a field missing from a row is null).

    C-speed ``itemgetter`` over the whole list first; if some row lacks a field (seeded rows
    carry only the fields they were given) the rows are taken one by one, still through
    ``itemgetter`` and falling back to ``dict.get`` only for the rows that need it.
    """
    if not columns:
        return [() for _ in rows]
    if len(columns) == 1:
        name = columns[0]
        return [(row.get(name),) for row in rows]
    getter = operator.itemgetter(*columns)
    try:
        values: list[tuple[Any, ...]] = list(map(getter, rows))
    except KeyError:
        values = []
        append = values.append
        for row in rows:
            try:
                append(getter(row))
            except KeyError:
                append(tuple(map(row.get, columns)))
    return values


def _order(rows: Sequence[Mapping[str, Any]], keys: Sequence[_SortKey]) -> list[int]:
    """Positions of ``rows`` in ORDER BY order: one C-level sort of positions per key.

    Each key's normalized column is computed once; nulls get a flag that puts them first or
    last. Python's sorts are stable (also with ``reverse=True``), so sorting by the least
    significant key first composes into the full ordering; on large tables two plain sorts
    beat one sort on tuple keys.
    """
    positions = list(range(len(rows)))
    for key in reversed(keys):
        name, norm = key.column.name, key.column.sort
        values = [row.get(name) for row in rows] if norm is _norm_raw else [norm(row.get(name)) for row in rows]
        if None in values:
            none_flag = 0 if key.nulls_first != key.descending else 2
            values = [(none_flag,) if v is None else (1, v) for v in values]
        lookup: Callable[[int], Any] = values.__getitem__  # C-level key: no Python frame per row
        positions.sort(key=lookup, reverse=key.descending)
    return positions


class _Compiler:
    def __init__(self, query: Query, schema: Schema) -> None:
        self.query = query
        objects = {name.lower(): name for name in schema}
        sobject = objects.get(query.sobject.lower())
        if sobject is None:
            raise _error(
                "INVALID_TYPE",
                query.text,
                query.sobject_pos,
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom object, "
                "be sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
            )
        self.sobject = sobject
        self.types = schema[sobject]
        self.by_lower = {name.lower(): name for name in self.types}
        prefixes = {sobject.lower()}
        if query.alias:
            prefixes.add(query.alias.lower())
        self.prefixes = prefixes

    def column(self, ref: FieldRef) -> _Column:
        path = ref.path
        if "." in path:
            head, _, rest = path.partition(".")
            if head.lower() not in self.prefixes or "." in rest:
                raise _error(
                    "INVALID_FIELD",
                    self.query.text,
                    ref.pos,
                    f"Didn't understand relationship '{head}' in field path. If you are attempting to use a custom "
                    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
                    "your WSDL or the describe call for the appropriate names.",
                )
            path = rest
        name = self.by_lower.get(path.lower())
        if name is None:
            raise _error(
                "INVALID_FIELD",
                self.query.text,
                ref.pos,
                f"No such column '{path}' on entity '{self.sobject}'. If you are attempting to use a custom field, "
                "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            )
        return _column(name, self.types[name])

    def compile(self) -> CompiledQuery:
        q = self.query
        fields: list[str] = []
        for ref in q.fields:
            name = self.column(ref).name
            if name in fields:
                raise _error("MALFORMED_QUERY", q.text, ref.pos, f"duplicate field selected: {name}")
            fields.append(name)
        matches: Predicate = _always if q.where is None else self.condition(q.where)
        order = tuple(_SortKey(self.column(item.field), item.descending, item.nulls_first) for item in q.order_by)
        offset = q.offset or 0
        if offset > MAX_OFFSET:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        return CompiledQuery(
            sobject=self.sobject,
            fields=tuple(fields),
            count=q.count,
            matches=matches,
            order=order,
            limit=q.limit,
            offset=offset,
        )

    def condition(self, cond: Condition) -> Predicate:
        if isinstance(cond, Junction):
            window = self.window(cond)
            if window is not None:
                return window
            parts = tuple(self.condition(item) for item in cond.items)
            if len(parts) == 2:  # the common window (``ts >= a AND ts < b``) without a loop
                first, second = parts
                if cond.op == "AND":
                    return lambda row: first(row) and second(row)
                return lambda row: first(row) or second(row)
            want = cond.op == "OR"  # the answer that short-circuits

            def junction(row: Mapping[str, Any]) -> bool:
                for part in parts:
                    if part(row) is want:
                        return want
                return not want

            return junction
        if isinstance(cond, Negation):
            inner = self.condition(cond.item)
            return lambda row: not inner(row)
        if isinstance(cond, Comparison):
            column = self.column(cond.field)
            return _comparison(column, cond.op, self.operand(column, cond.value))
        if isinstance(cond, Membership):
            column = self.column(cond.field)
            return _membership(column, {self.operand(column, v) for v in cond.values}, cond.negated)
        column = self.column(cond.field)
        if column.type not in STRING_TYPES and column.type not in ID_TYPES:
            raise _error(
                "INVALID_QUERY_FILTER_OPERATOR",
                self.query.text,
                cond.field.pos,
                f"invalid operator on {_TYPE_WORD.get(column.type, column.type)} field: {column.name}",
            )
        if cond.pattern.kind != "string":
            raise self.wrong_type(column, cond.pattern)
        return _like(column, str(cond.pattern.value))

    def window(self, cond: Junction) -> Predicate | None:
        """``a <(=) field AND field <(=) b`` as one range test (the incremental-sync window).

        Only for exactly one lower and one upper bound on the same column with non-null
        literals; anything else is compiled generically.
        """
        items = cond.items
        if cond.op != "AND" or len(items) != 2 or not all(isinstance(i, Comparison) for i in items):
            return None
        first, second = items
        assert isinstance(first, Comparison) and isinstance(second, Comparison)
        if first.op in ("<", "<="):
            first, second = second, first
        if first.op not in (">", ">=") or second.op not in ("<", "<="):
            return None
        column = self.column(first.field)
        if self.column(second.field).name != column.name:
            return None
        lower, upper = self.operand(column, first.value), self.operand(column, second.value)
        if lower is None or upper is None:
            return None
        return _range(column, lower, first.op == ">=", upper, second.op == "<=")

    def wrong_type(self, column: _Column, value: Value) -> SoqlError:
        if column.type in STRING_TYPES or column.type in ID_TYPES:
            reason = (
                f"value of filter criterion for field '{column.name}' must be of type string "
                "and should be enclosed in quotes"
            )
        else:
            word = _TYPE_WORD.get(column.type, column.type)
            reason = (
                f"value of filter criterion for field '{column.name}' must be of type {word} "
                "and should not be enclosed in quotes"
            )
        return _error("INVALID_QUERY_FILTER_OPERATOR", self.query.text, value.pos, reason)

    def operand(self, column: _Column, value: Value) -> Any:
        """The literal in the column's comparable form; a literal of the wrong type is refused."""
        if value.kind == "null":
            return None
        t = column.type
        if t in STRING_TYPES or t in ID_TYPES:
            ok = value.kind == "string"
        elif t in NUMBER_TYPES:
            ok = value.kind == "number"
        else:
            ok = value.kind == {"boolean": "boolean", "date": "date", "datetime": "datetime"}.get(t, "string")
        if not ok:
            raise self.wrong_type(column, value)
        if t == "datetime":
            return canonical_datetime(value.value)
        if t == "date":
            return value.value.isoformat()
        return column.compare(value.value)


def _always(row: Mapping[str, Any]) -> bool:
    return True


def _comparison(column: _Column, op: str, literal: Any) -> Predicate:
    name, norm = column.name, column.compare
    if literal is None:
        if op == "=":
            return lambda row: row.get(name) is None
        if op == "!=":
            return lambda row: row.get(name) is not None
        return lambda row: False
    if op == "=":
        return lambda row: norm(row.get(name)) == literal
    if op == "!=":  # two-valued: a null field differs from any value
        return lambda row: norm(row.get(name)) != literal
    # One closure per operator, comparing inline: these run once per row of large tables.
    if op == "<":

        def lt(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and value < literal

        return lt
    if op == "<=":

        def le(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and value <= literal

        return le
    if op == ">":

        def gt(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and value > literal

        return gt

    def ge(row: Mapping[str, Any]) -> bool:
        value = norm(row.get(name))
        return value is not None and value >= literal

    return ge


def _range(column: _Column, lower: Any, lower_inclusive: bool, upper: Any, upper_inclusive: bool) -> Predicate:
    name, norm = column.name, column.compare
    if lower_inclusive and not upper_inclusive:

        def half_open(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and lower <= value < upper

        return half_open
    if lower_inclusive:

        def closed(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and lower <= value <= upper

        return closed
    if upper_inclusive:

        def open_closed(row: Mapping[str, Any]) -> bool:
            value = norm(row.get(name))
            return value is not None and lower < value <= upper

        return open_closed

    def open_(row: Mapping[str, Any]) -> bool:
        value = norm(row.get(name))
        return value is not None and lower < value < upper

    return open_


def _membership(column: _Column, literals: set[Any], negated: bool) -> Predicate:
    name, norm = column.name, column.compare
    if negated:
        return lambda row: norm(row.get(name)) not in literals
    return lambda row: norm(row.get(name)) in literals


def _like(column: _Column, pattern: str) -> Predicate:
    """``%`` is any run, ``_`` one character, ``\\%``/``\\_`` literal; case-insensitive, whole value."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    regex = re.compile("".join(out), re.IGNORECASE | re.DOTALL)
    name = column.name

    def like(row: Mapping[str, Any]) -> bool:
        value = row.get(name)
        return value is not None and regex.fullmatch(str(value)) is not None

    return like


def compile_query(query: Query, schema: Schema) -> CompiledQuery:
    """Check ``query`` against ``schema`` and build its evaluator.

    Raises ``SoqlError``: ``INVALID_TYPE`` (unknown sObject), ``INVALID_FIELD`` (unknown field),
    ``INVALID_QUERY_FILTER_OPERATOR`` (literal of the wrong type), ``NUMBER_OUTSIDE_VALID_RANGE``
    (OFFSET above 2,000).
    """
    return _Compiler(query, schema).compile()


def prepare(text: str, schema: Schema) -> CompiledQuery:
    """``parse`` then ``compile_query``."""
    return compile_query(parse(text), schema)
