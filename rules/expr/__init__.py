"""The rule expression language: one-line conditions and values, type-checked at load, compiled once to polars.

Admins write ``when`` conditions and ``value`` formulas over per-account features; every rule is
evaluated over all accounts at once. Nothing is ever ``eval``-ed: a hand-written tokenizer and
parser build a typed tree, which compiles to one polars expression. ``interpret`` evaluates the
same tree over one row in plain Python and gives exactly the same results (a property test
holds the two to it).

One module per stage: :mod:`~rules.expr.nodes` (types, schema, errors, the tree),
:mod:`~rules.expr.functions` (the helper functions and the columns they read),
:mod:`~rules.expr.lexer` → :mod:`~rules.expr.parser` → :mod:`~rules.expr.checker` →
:mod:`~rules.expr.compiler`, with :mod:`~rules.expr.interpreter` (the reference, and ``explain``)
beside them; the nodes print themselves back to source (``to_source``). Import from the package.

Grammar, lowest precedence first::

    expr       := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum [("<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not in") sum]   (no chaining)
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | NAME | NAME "(" [expr ("," expr)*] ")"
                | "(" expr ")" | "[" item ("," item)* [","] "]"
    item       := ["-"] NUMBER | STRING

- Numbers: ``12``, ``0.5``, ``1_000``; ``80%`` is 0.8. Strings: ``"…"`` or ``'…'``, with ``\\"``,
  ``\\'`` and ``\\\\`` escapes. Lists of literals (all numbers or all text) only right of ``in``.
- A name is a feature (a column of the features frame). A weekly series name on its own is its
  latest week (column ``name@w0``); a name that is only a daily series is read through its functions.
- Types: number, bool, text, date, list (of text). ``< <= > >=`` compare numbers or dates;
  ``== !=`` also text and bools; both sides have the same type. Arithmetic takes numbers,
  ``and or not`` take bools. ``x in [...]`` needs a list of x's type; ``"text" in list_feature``
  tests membership.
- Functions: ``rising(series, n)`` / ``falling(series, n)`` (strictly up / down each of the last n
  weeks), ``change(series, n)`` ((w0 - wn) / wn), ``days_since(date)``, ``days_until(date)``,
  ``uses("feature", days)``, ``min(a, b, …)``, ``max(a, b, …)``, ``abs(x)``,
  ``coalesce(x, y, …)``, ``missing(x)``, ``known(x)``, ``count(list)``, and the daily series
  functions below.
- Daily series functions (``Schema.daily``, list columns ``name@d``: oldest day first, yesterday
  last): ``ago(x, n)`` (x on the day n days before today; 1 is yesterday), ``delta(x, n)``
  (yesterday − x n days before yesterday), ``change_over(x, n)`` (that, over the earlier value),
  ``min_over``, ``max_over``, ``mean_over``, ``sum_over(x, n)`` (over the last n days, unknown days skipped),
  ``crossed_above(x, t, n)`` / ``crossed_below(x, t, n)`` (yesterday on the new side of t, the run
  there preceded by n known days in a row on the other side) and ``streak(x op t)`` (days in a
  row, ending yesterday, the comparison held). x is a daily series name, n a whole-number literal
  from 1 to ``Schema.series_days``, t any number expression. ``crossed_*`` and ``streak`` look
  back ``series_days`` days in all.
- Unknown values (null) follow SQL: a comparison or calculation with null is null; ``and``/``or``
  are three-valued (false and null = false, true or null = true); ``min``/``max`` skip nulls.
  A calculation that is not a finite number (division by zero, overflow) is null. A condition
  that ends up null does not fire.
"""

from rules.expr.checker import check
from rules.expr.compiler import Compiled, compile_condition, compile_expr
from rules.expr.functions import TODAY_COLUMN, helper_names, uses_column
from rules.expr.interpreter import explain, interpret
from rules.expr.nodes import (
    MAX_DEPTH,
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
    to_source,
)
from rules.expr.parser import MAX_LENGTH, parse

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "TODAY_COLUMN",
    "Binary",
    "Bool",
    "Call",
    "Compare",
    "Compiled",
    "ExprError",
    "In",
    "ListLit",
    "Name",
    "Node",
    "Number",
    "Schema",
    "String",
    "Type",
    "Unary",
    "check",
    "compile_condition",
    "compile_expr",
    "explain",
    "helper_names",
    "interpret",
    "parse",
    "to_source",
    "uses_column",
]
