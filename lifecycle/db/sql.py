"""Helpers every hand-written statement is built with: names from the models, locks as the
database supports them, model constants as literals."""

from django.db import connection
from django.db.models.expressions import RawSQL


def quote(name):
    return connection.ops.quote_name(name)


def table(model):
    return quote(model._meta.db_table)


def col(model, name, alias=None):
    """A model field's column, quoted, optionally qualified by a table alias."""
    column = quote(model._meta.get_field(name).column)
    return f"{alias}.{column}" if alias else column


def for_update(sql, of=""):
    """`sql` locking the rows it reads against other writers of them (OF `of` where supported);
    unchanged on databases without row locks (SQLite serialises writers instead). FOR NO KEY UPDATE
    where the database has it (PostgreSQL): nobody deletes these rows or changes their keys, and FOR
    UPDATE also held back every transaction inserting a row that refers to them, whose foreign-key
    check at commit then waited in a cycle with this one (two routings each holding a team the other's
    handoff names; a drain holding an order the journey follower's events name)."""
    if not connection.features.has_select_for_update:
        return sql
    lock = " FOR NO KEY UPDATE" if connection.features.has_select_for_no_key_update else " FOR UPDATE"
    return sql + (f"{lock} OF {of}" if of and connection.features.has_select_for_update_of else lock)


def literals(values):
    """Model constants (statuses), not input, as SQL literals: a prepared statement's generic plan
    can then use the partial indexes whose conditions name them."""
    return ", ".join(f"'{value}'" for value in values)


def marks(count):
    return ", ".join(["%s"] * count)


def in_list(column, count, negate=False):
    """`column` among a list of values: one array parameter when `count` is None (PostgreSQL: the
    text, and the plan psycopg prepares, do not change with the list's length), else `count` marks.
    Negated, the array is a subquery, which PostgreSQL hashes (<> ALL compares with every element)."""
    if count is None:
        return f"{column} NOT IN (SELECT unnest(%s))" if negate else f"{column} = ANY(%s)"
    return f"{column} {'NOT IN' if negate else 'IN'} ({marks(count)})"


def json_has_key(column, key):
    """SQL: the JSON object in `column` has the (constant) key `key`."""
    if connection.vendor == "postgresql":
        return f"{column} ? '{key}'"
    return f"json_type({column}, '$.{key}') IS NOT NULL"


def json_text(column, key):
    """SQL: the value of the (constant) key `key` of the JSON object in `column`, as text."""
    if connection.vendor == "postgresql":
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def frozen_columns(queryset):
    """Each annotation of `queryset` compiled, as {name: (sql, params, output field)}, for a caller to
    keep and add to its queries as RawSQL (raw_columns): building and compiling a dozen correlated
    subqueries cost a read more CPU than running them, on every request (console/selectors/crm.py).

    The SQL names the queryset's own table by its name, as a query reading that table (not nested in
    another query) calls it. A column reached through a join would be missing from the query the SQL
    is added to: refused (read it with a subquery of its own)."""
    query = queryset.query
    joined = [alias for alias, join in query.alias_map.items()
              if getattr(join, "join_type", None) and query.alias_refcount[alias]]  # not a join trimmed away
    if joined:
        raise ValueError(f"frozen columns may not join other tables: {joined}")
    compiler = query.get_compiler(using=queryset.db)
    return {name: (*compiler.compile(expression), expression.output_field)
            for name, expression in query.annotations.items()}


def raw_columns(frozen):
    """frozen_columns' SQL as annotations (new expressions each time: a query resolves its own)."""
    return {name: RawSQL(sql, params, output_field=field) for name, (sql, params, field) in frozen.items()}
