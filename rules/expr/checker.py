"""The type checker: an untyped tree and a schema → the typed tree and its type, or a pointed ExprError."""

from __future__ import annotations

from dataclasses import replace
from typing import assert_never

from core.errors import did_you_mean
from rules.expr.functions import (
    CROSSING_FUNCTIONS,
    DAILY_FUNCTIONS,
    FUNCTIONS,
    PRODUCT_FUNCTIONS,
    RUN_FUNCTIONS,
    SERIES_FUNCTIONS,
)
from rules.expr.lexer import KEYWORDS
from rules.expr.nodes import (
    Binary,
    Bool,
    Call,
    Compare,
    ExprError,
    In,
    ListLit,
    Name,
    Node,
    Number,
    Schema,
    String,
    Type,
    Unary,
    check_depth,
    children,
)

_NOUNS = {Type.number: "a number", Type.bool: "true/false", Type.text: "text", Type.date: "a date", Type.list: "a list"}

_NUMBER_OF: dict[str, tuple[Type, str]] = {
    # function: (the type of every argument, what its error says the function needs); each gives a number
    "days_since": (Type.date, "a date"),
    "days_until": (Type.date, "a date"),
    "min": (Type.number, "numbers"),
    "max": (Type.number, "numbers"),
    "abs": (Type.number, "a number"),
    "count": (Type.list, "a list feature"),
}


def noun(t: Type) -> str:
    """A value of type ``t`` as a message names it: "a number", "true/false", "text"…"""
    return _NOUNS[t]


def condition_hint(text: str, want: Type, got: Type) -> str | None:
    """For a number written where true/false is needed, how to make it a condition; else None."""
    return f"compare it, as in {text} > 0" if want == Type.bool and got == Type.number else None


def _col(node: Node) -> int:
    return node.start + 1


def _whole(node: Node) -> int | None:
    """The value of a plain whole-number literal, else None."""
    if isinstance(node, Number) and not node.percent and node.value.is_integer():
        return int(node.value)
    return None


class Checker:
    """Types one tree against one schema; every method raises ExprError at the first problem."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def name_type(self, node: Name) -> Type:
        if node.id in self.schema.features:
            return self.schema.features[node.id]
        if node.id in self.schema.series:
            return Type.number
        hint = did_you_mean(node.id, [*self.schema.features, *self.schema.series])
        if node.id.startswith("crm."):
            # compared without the shared "crm." (which would make any two look alike)
            close = did_you_mean(node.id[4:], [n[4:] for n in self.schema.features if n.startswith("crm.")])
            hint = (close and close.replace("mean '", "mean 'crm.")) or (
                f"declare {node.id[4:]} under [salesforce.extra_fields] Account or [hubspot.extra_properties] companies"
            )
            raise ExprError(f"unknown CRM field '{node.id}': not declared in extra fields", _col(node), hint)
        if node.id in self.schema.daily:
            raise ExprError(
                f"'{node.id}' is a daily series, not a feature",
                _col(node),
                f"read one day with ago({node.id}, 1) or a window with sum_over({node.id}, 7)",
            )
        if node.id in FUNCTIONS:
            hint = f"{node.id} is a function: {FUNCTIONS[node.id][0]}"
        elif node.id.lower() in KEYWORDS:
            hint = f"keywords are lowercase: use '{node.id.lower()}'"
        elif node.id.lower() in ("null", "none", "nil"):
            hint = "test for a missing value with missing(x) or known(x)"
        raise ExprError(f"unknown feature '{node.id}'", _col(node), hint)

    def check(self, node: Node) -> tuple[Node, Type]:
        match node:
            case Number():
                return node, Type.number
            case String():
                return node, Type.text
            case Bool():
                return node, Type.bool
            case ListLit():
                raise ExprError(
                    "a list is only allowed on the right of 'in'", _col(node), 'as in plan in ["pro", "team"]'
                )
            case Name():
                t = self.name_type(node)
                return replace(node, type=t), t
            case Unary(op="-", operand=operand):
                return replace(node, operand=self.expect(operand, Type.number, "'-' needs a number")), Type.number
            case Unary(operand=operand):
                return replace(node, operand=self.expect(operand, Type.bool, "'not' needs true/false")), Type.bool
            case Binary(op=op, left=left, right=right):
                want = Type.bool if op in ("and", "or") else Type.number
                needs = f"'{op}' needs " + ("true/false values" if want == Type.bool else "numbers")
                typed_left, typed_right = self.expect(left, want, needs), self.expect(right, want, needs)
                return replace(node, left=typed_left, right=typed_right), want
            case Compare():
                return self.compare(node), Type.bool
            case In():
                return self.in_(node), Type.bool
            case Call():
                return self.call(node)
            case _:
                assert_never(node)

    def expect(self, node: Node, want: Type, needs: str) -> Node:
        """The typed node, if it has type ``want``; else an error "{needs}, not {its type}" at it."""
        typed, t = self.check(node)
        if t != want:
            hint = condition_hint(node.text, want, t)
            raise ExprError(f"{needs}, not {noun(t)}", _col(node), hint)
        return typed

    def compare(self, node: Compare) -> Node:
        left, lt = self.check(node.left)
        right, rt = self.check(node.right)
        at = node.op_start + 1
        if Type.list in (lt, rt):
            raise ExprError("lists cannot be compared", at, 'use "x" in list, or count(list)')
        if lt != rt:
            hint = None
            if Type.date in (lt, rt):
                hint = "dates compare with dates; for a number of days use days_since(d) or days_until(d)"
            elif {lt, rt} == {Type.text, Type.number}:
                hint = 'text values are quoted, as in plan == "3"'
            raise ExprError(f"cannot compare {lt} with {rt}", at, hint)
        if node.op not in ("==", "!=") and lt in (Type.text, Type.bool):
            raise ExprError(f"{lt} values cannot be ordered with '{node.op}'", at, f"{lt} supports only == and !=")
        return replace(node, left=left, right=right)

    def in_(self, node: In) -> Node:
        item, it = self.check(node.item)
        at = node.op_start + 1
        op = "not in" if node.negated else "in"
        if isinstance(node.container, ListLit):
            lst = node.container
            elem = Type.number if isinstance(lst.items[0], Number) else Type.text
            for x in lst.items:
                if (Type.number if isinstance(x, Number) else Type.text) != elem:
                    raise ExprError("list items must be all numbers or all text", _col(x))
            if it != elem:
                raise ExprError(
                    f"cannot look for {noun(it)} in a list of {'numbers' if elem == Type.number else 'text'}", at
                )
            return replace(node, item=item)
        container, ct = self.check(node.container)
        if ct != Type.list:
            raise ExprError(
                f"the right side of '{op}' must be a list, not {noun(ct)}",
                _col(node.container),
                'write a list, as in plan in ["pro", "team"]',
            )
        if it != Type.text:
            raise ExprError(f"a list feature holds text: cannot look for {noun(it)} in it", at)
        return replace(node, item=item, container=container)

    def call(self, node: Call) -> tuple[Node, Type]:
        name, args = node.name, node.args
        if name not in FUNCTIONS:
            hint = did_you_mean(name, list(FUNCTIONS))
            if name in self.schema.features:
                hint = f"'{name}' is a feature, not a function"
            raise ExprError(f"unknown function '{name}'", _col(node), hint)
        usage, arity = FUNCTIONS[name]
        if len(args) < 2 if arity == 0 else len(args) != arity:
            want = "at least 2 arguments" if arity == 0 else "1 argument" if arity == 1 else f"{arity} arguments"
            raise ExprError(f"{name}() takes {want}, got {len(args)}", _col(node), f"write {usage}")
        if name in SERIES_FUNCTIONS:
            self.check_series(node)
            return node, Type.number if name == "change" else Type.bool
        if name == "uses":
            self.check_uses(node)
            return node, Type.number
        if name in PRODUCT_FUNCTIONS:
            self.check_pattern(node)
            return node, Type.bool if name == "owns" else Type.date
        if name in DAILY_FUNCTIONS:
            return self.daily(node)
        if name in _NUMBER_OF:
            arg_type, needs = _NUMBER_OF[name]
            typed = tuple(self.expect(a, arg_type, f"{name}() needs {needs}") for a in args)
            return replace(node, args=typed), Type.number
        if name in ("missing", "known"):
            arg, _ = self.check(args[0])
            return replace(node, args=(arg,)), Type.bool
        # coalesce
        first, t = self.check(args[0])
        if t == Type.list:
            raise ExprError("coalesce() takes numbers, text, dates or bools, not a list", _col(args[0]))
        typed_args = [first]
        for arg in args[1:]:
            typed_arg, arg_t = self.check(arg)
            if arg_t != t:
                raise ExprError(f"coalesce() needs arguments of one type: {noun(t)}, then {noun(arg_t)}", _col(arg))
            typed_args.append(typed_arg)
        return replace(node, args=tuple(typed_args)), t

    def check_series(self, node: Call) -> None:
        series, weeks = node.args
        if not isinstance(series, Name) or series.id not in self.schema.series:
            known = list(self.schema.series)
            got = f"'{series.id}' is not one" if isinstance(series, Name) else "got an expression"
            hint = did_you_mean(series.id, known) if isinstance(series, Name) else None
            if hint is None:
                hint = f"weekly series: {', '.join(known)}" if known else "no weekly series are configured"
            raise ExprError(f"{node.name}() needs a weekly series name first; {got}", _col(series), hint)
        points = self.schema.series[series.id]
        n = _whole(weeks)
        if n is None or not 1 <= n < points:
            raise ExprError(
                f"{node.name}()'s weeks must be a whole number from 1 to {points - 1}",
                _col(weeks),
                f"'{series.id}' holds {points} weekly points",
            )

    def daily(self, node: Call) -> tuple[Node, Type]:
        """A daily series function: its series, days and threshold checked, the typed call and its type."""
        if node.name in ("streak", "started"):
            return self.streak(node), Type.number if node.name == "streak" else Type.date
        series = self.daily_series(node, node.args[0], f"{node.name}() needs a daily series name first")
        if node.name in CROSSING_FUNCTIONS:
            threshold = self.threshold(node, node.args[1])
            # the run on the new side takes a day at least, within the same series_days
            self.days(node, node.args[2], self.schema.series_days - 1)
            return replace(node, args=(series, threshold, node.args[2])), Type.bool
        # delta / change_over read one day more: yesterday and the day n days before it
        most = self.schema.series_days - (1 if node.name in ("delta", "change_over") else 0)
        self.days(node, node.args[1], most)
        return replace(node, args=(series, node.args[1])), Type.number

    def threshold(self, node: Call, arg: Node) -> Node:
        """A crossing's or streak's threshold: a number that counts no run itself (its compilation
        reads the threshold more than once: nested runs would double it at every level)."""
        stack = [arg]
        while stack:
            n = stack.pop()
            if isinstance(n, Call) and n.name in RUN_FUNCTIONS:
                raise ExprError(
                    f"{node.name}()'s threshold cannot count a run itself ({n.name}())",
                    _col(n),
                    "combine them with and: crossed_above(wau, 30, 14) and streak(wau >= 30) <= 30",
                )
            stack.extend(children(n))
        return self.expect(arg, Type.number, f"{node.name}()'s threshold must be a number")

    def daily_series(self, node: Call, arg: Node, needs: str) -> Name:
        if isinstance(arg, Name) and arg.id in self.schema.daily:
            return replace(arg, type=Type.number)
        known = list(self.schema.daily)
        got = f"'{arg.id}' is not one" if isinstance(arg, Name) else f"got {arg.text}"
        hint = did_you_mean(arg.id, known) if isinstance(arg, Name) else None
        if hint is None:
            hint = f"daily series: {', '.join(known)}" if known else "no daily series are kept"
        raise ExprError(f"{needs}; {got}", _col(arg), hint)

    def days(self, node: Call, arg: Node, most: int) -> None:
        n = _whole(arg)
        if n is None or not 1 <= n <= most:
            raise ExprError(
                f"{node.name}()'s days must be a whole number from 1 to {most}",
                _col(arg),
                f"[features] series_days = {self.schema.series_days} caps how far back a rule may look",
            )

    def streak(self, node: Call) -> Node:
        (compare,) = node.args
        if not isinstance(compare, Compare):
            raise ExprError(
                f"{node.name}() needs a daily series compared with a number",
                _col(compare),
                f"as in {node.name}(wau >= 30)",
            )
        series = self.daily_series(node, compare.left, f"{node.name}() needs a daily series left of its comparison")
        threshold = self.threshold(node, compare.right)
        return replace(node, args=(replace(compare, left=series, right=threshold),))

    def check_uses(self, node: Call) -> None:
        feature, days = node.args
        if not isinstance(feature, String):
            raise ExprError(
                "uses() needs a product feature name in quotes first", _col(feature), 'as in uses("export", 30)'
            )
        if feature.value not in self.schema.tracked:
            hint = did_you_mean(feature.value, list(self.schema.tracked))
            if hint is None:
                tracked = ", ".join(self.schema.tracked)
                hint = f"tracked features: {tracked}" if tracked else "no product features are tracked"
            raise ExprError(f"'{feature.value}' is not a tracked product feature", _col(feature), hint)
        n = _whole(days)
        if n is None or not 1 <= n <= 365:
            raise ExprError("uses()'s days must be a whole number from 1 to 365", _col(days))

    def check_pattern(self, node: Call) -> None:
        (pattern,) = node.args
        if not isinstance(pattern, String) or not pattern.value.strip("*? "):
            raise ExprError(
                f"{node.name}() needs a product name or pattern in quotes",
                _col(pattern),
                f'as in {node.name}("Accounting*"): * matches any text, ? one character; case is ignored',
            )


def annotate(node: Node, schema: Schema) -> tuple[Node, Type]:
    """The typed tree (names carry their type) and its type; raises ExprError like :func:`check`."""
    check_depth(node)
    return Checker(schema).check(node)


def check(node: Node, schema: Schema) -> Type:
    """The expression's type; raises ExprError for unknown names, type errors and bad arguments."""
    return annotate(node, schema)[1]
