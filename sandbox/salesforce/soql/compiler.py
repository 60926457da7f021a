"""A parsed query checked against sObject metadata and compiled into closures (no eval)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.salesforce.soql.compiled import CompiledQuery, SortKey
from sandbox.salesforce.soql.errors import SoqlError, located_error
from sandbox.salesforce.soql.parser import MAX_OFFSET, parse
from sandbox.salesforce.soql.predicates import (
    Predicate,
    always_true,
    comparison_predicate,
    like_predicate,
    membership_predicate,
    range_predicate,
)
from sandbox.salesforce.soql.syntax import Comparison, Condition, FieldRef, Junction, Membership, Negation, Query, Value
from sandbox.salesforce.soql.values import (
    ID_TYPES,
    NUMBER_TYPES,
    STRING_TYPES,
    TYPE_WORD,
    Column,
    Schema,
    canonical_datetime,
    column_of,
)


class _Compiler:
    def __init__(self, query: Query, schema: Schema) -> None:
        self.query = query
        objects = {name.lower(): name for name in schema}
        sobject = objects.get(query.sobject.lower())
        if sobject is None:
            raise located_error(
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

    def column(self, ref: FieldRef) -> Column:
        path = ref.path
        if "." in path:
            head, _, rest = path.partition(".")
            if head.lower() not in self.prefixes or "." in rest:
                raise located_error(
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
            raise located_error(
                "INVALID_FIELD",
                self.query.text,
                ref.pos,
                f"No such column '{path}' on entity '{self.sobject}'. If you are attempting to use a custom field, "
                "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            )
        return column_of(name, self.types[name])

    def compile(self) -> CompiledQuery:
        q = self.query
        fields: list[str] = []
        for ref in q.fields:
            name = self.column(ref).name
            if name in fields:
                raise located_error("MALFORMED_QUERY", q.text, ref.pos, f"duplicate field selected: {name}")
            fields.append(name)
        matches: Predicate = always_true if q.where is None else self.condition(q.where)
        order = tuple(SortKey(self.column(item.field), item.descending, item.nulls_first) for item in q.order_by)
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
            return comparison_predicate(column, cond.op, self.operand(column, cond.value))
        if isinstance(cond, Membership):
            column = self.column(cond.field)
            return membership_predicate(column, {self.operand(column, v) for v in cond.values}, cond.negated)
        column = self.column(cond.field)
        if column.type not in STRING_TYPES and column.type not in ID_TYPES:
            raise located_error(
                "INVALID_QUERY_FILTER_OPERATOR",
                self.query.text,
                cond.field.pos,
                f"invalid operator on {TYPE_WORD.get(column.type, column.type)} field: {column.name}",
            )
        if cond.pattern.kind != "string":
            raise self.wrong_type(column, cond.pattern)
        return like_predicate(column, str(cond.pattern.value))

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
        return range_predicate(column, lower, first.op == ">=", upper, second.op == "<=")

    def wrong_type(self, column: Column, value: Value) -> SoqlError:
        if column.type in STRING_TYPES or column.type in ID_TYPES:
            reason = (
                f"value of filter criterion for field '{column.name}' must be of type string "
                "and should be enclosed in quotes"
            )
        else:
            word = TYPE_WORD.get(column.type, column.type)
            reason = (
                f"value of filter criterion for field '{column.name}' must be of type {word} "
                "and should not be enclosed in quotes"
            )
        return located_error("INVALID_QUERY_FILTER_OPERATOR", self.query.text, value.pos, reason)

    def operand(self, column: Column, value: Value) -> Any:
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
