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

from sandbox.salesforce.soql.compiled import CompiledQuery, gc_paused
from sandbox.salesforce.soql.compiler import compile_query, prepare
from sandbox.salesforce.soql.errors import SoqlError
from sandbox.salesforce.soql.parser import MAX_OFFSET, parse
from sandbox.salesforce.soql.syntax import Condition, FieldRef, OrderItem, Query, Value
from sandbox.salesforce.soql.values import (
    ID_TYPES,
    NUMBER_TYPES,
    STRING_TYPES,
    Schema,
    canonical_datetime,
    canonical_or_none,
    parse_datetime,
)

__all__ = [
    "ID_TYPES",
    "MAX_OFFSET",
    "NUMBER_TYPES",
    "STRING_TYPES",
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
