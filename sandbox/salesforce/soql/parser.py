"""The SOQL parser: tokens into a ``Query``, syntax only (SOQL and SOSL Reference)."""

from __future__ import annotations

from typing import Literal

from sandbox.salesforce.soql.errors import SoqlError, located_error
from sandbox.salesforce.soql.lexer import DATE_LITERALS, RESERVED, Token, tokenize
from sandbox.salesforce.soql.syntax import (
    Comparison,
    Condition,
    FieldRef,
    Junction,
    Like,
    Membership,
    Negation,
    OrderItem,
    Query,
    Value,
)

# Salesforce refuses OFFSET above 2,000 (SOQL and SOSL Reference › OFFSET).
MAX_OFFSET = 2000


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        shown = "<EOF>" if tok.kind == "eof" else tok.text if tok.kind == "string" else f"'{tok.text}'"
        return located_error("MALFORMED_QUERY", self.text, tok.pos, f"unexpected token: {shown}")

    def unsupported(self, tok: Token, what: str) -> SoqlError:
        return located_error("MALFORMED_QUERY", self.text, tok.pos, f"the upsync sandbox does not support {what}")

    def expect_keyword(self, word: str) -> Token:
        if not self.tok.keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, ch: str) -> Token:
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
        if obj.kind != "ident" or obj.text.upper() in RESERVED or "." in obj.text:
            raise self.unexpected(obj)
        alias: str | None = None
        if self.tok.kind == "ident" and self.tok.text.upper() not in RESERVED:
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
        if tok.kind != "ident" or tok.text.upper() in RESERVED or ":" in tok.text:
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
        if tok.kind == "ident" and DATE_LITERALS.match(tok.text.split(":")[0]):
            raise self.unsupported(tok, f"the relative date literal {tok.text}; send an absolute datetime")
        raise self.unexpected(tok)


def parse(text: str) -> Query:
    """Parse ``text``; raises ``SoqlError`` (``MALFORMED_QUERY``) naming the unexpected token."""
    return _Parser(text).query()
