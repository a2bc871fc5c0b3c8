"""Hand-built row writes for the hottest paths (a handoff, an order landing from the shop).

Django's `Model.objects.create` compiles a query per call, which cost more CPU than PostgreSQL
spent on the insert, and each statement is a round trip. Here an insert's SQL is built once per
model, values are prepared by the model's own fields (so JSON, money and times are stored exactly
as the ORM would store them), and on PostgreSQL several writes travel as one statement: data-
modifying CTEs, whose foreign keys are checked at the end of the statement, so rows may refer to
each other. Other backends run the same statements one by one.

On PostgreSQL these statements bind their parameters on the server (see `cursor`), so psycopg
prepares each once it has run `prepare_threshold` times (settings.py): planning an insert into a
table with many indexes cost more than running it. SQL meant for this cursor writes model constants
(statuses) as literals, so the prepared (generic) plan can still use the partial indexes.
"""

import contextlib
import datetime
import decimal
import functools
import operator

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute, ForwardManyToOneDescriptor
from django.db.models.signals import post_init, pre_init
from django_fsm import ConcurrentTransitionMixin

from lifecycle.db.sql import in_list, quote, table

# Allocating ids before inserting lets one statement carry rows that refer to each other.
ALLOCATES_IDS = "postgresql"


def _db():
    # The connection itself: `connection` is a proxy that looks it up again on every attribute read,
    # which the field preparation below does some thirty times per row.
    return connections[DEFAULT_DB_ALIAS]


# Values a field stores unchanged on PostgreSQL, by the Python type they arrive as (text also as a
# subclass: the choices enums, which Django stores as they are and psycopg writes as their text),
# with what such a value must also be (a datetime aware, a Decimal finite: what the field's own
# preparation refuses goes through it and is refused there) (see _preparer).
_PLAIN = [
    (models.BooleanField, bool, True, None), (models.IntegerField, int, 1, None), (models.CharField, str, "x", None),
    (models.TextField, str, "x", None),
    (models.DateTimeField, datetime.datetime, datetime.datetime.now(datetime.UTC), lambda v: v.tzinfo is not None),
    (models.DecimalField, decimal.Decimal, decimal.Decimal("1.5"), decimal.Decimal.is_finite),
]


def _preparer(field, db, given=False):
    """(attname, plain type, wrap, check) when the field's value of that type that passes `check` (None:
    any) needs no preparation but an optional wrap (PostgreSQL's integer types: psycopg then binds
    int8 for a small id too, so a prepared statement keeps one signature); None when the value must
    go through the field. `given`: values are given as they are to be stored, not read from an
    instance through pre_save, so a time set on save (auto_now) is plain too.

    Field preparation is most of an insert's CPU: thirty calls for a row whose values, but for its
    JSON, PostgreSQL takes as they are."""
    if db.vendor != "postgresql" or not given and (
            getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)):
        return None
    target = field.target_field if field.is_relation else field
    if not all(_django_own(f) for f in {field, target}):
        return None  # a field of ours or a package's may encrypt, encode or validate: it prepares its values
    for base, plain, sample, check in _PLAIN:
        if isinstance(target, base):
            prepared = field.get_db_prep_save(sample, db)
            if prepared != sample:
                return None
            return field.attname, plain, None if type(prepared) is plain else type(prepared), check
    return None


def _django_own(field):
    methods = ("pre_save", "to_python", "get_prep_value", "get_db_prep_value", "get_db_prep_save")
    return all(getattr(type(field), name).__module__.startswith("django.db.models.") for name in methods)


@functools.cache
def _insert_sql(model, with_pk):
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    db = _db()
    plan = [(field, _preparer(field, db)) for field in fields]
    return f"INSERT INTO {table(model)} ({columns}) VALUES ({marks})", plan


def _params(instance, plan, db):
    params = []
    for field, plain in plan:
        if plain is not None:
            attname, kind, wrap, check = plain
            value = getattr(instance, attname)
            if value is None:
                params.append(None)
                continue
            if (type(value) is kind or kind is str and isinstance(value, str)) and (check is None or check(value)):
                params.append(value if wrap is None else wrap(value))
                continue
        params.append(field.get_db_prep_save(field.pre_save(instance, add=True), db))
    return params


@functools.cache
def _values_plan(model, names):
    """How _value_params prepares values of the model's fields `names` (attnames): (field, plain type
    or None, wrap, check) each, as _preparer says for given values."""
    by_name, db = {f.attname: f for f in model._meta.concrete_fields}, _db()
    return tuple((by_name[name], *(_preparer(by_name[name], db, given=True) or (None, None, None, None))[1:])
                 for name in names)


def _value_params(row, plan, db):
    """_params for values given in plan order (_values_plan) instead of read from an instance (no
    pre_save: an auto_now field takes the value given)."""
    params = []
    for (field, kind, wrap, check), value in zip(plan, row, strict=True):
        if kind is not None and (value is None or (type(value) is kind or kind is str and isinstance(value, str))
                                 and (check is None or check(value))):
            params.append(value if value is None or wrap is None else wrap(value))
        else:
            params.append(field.get_db_prep_save(value, db))
    return params


def insert_statement(instance):
    """(sql, params) inserting `instance` as `instance.save(force_insert=True)` would, id included."""
    sql, plan = _insert_sql(type(instance), instance.pk is not None)
    return sql, _params(instance, plan, _db())


# PostgreSQL's limit on one statement's parameters.
MAX_PARAMS = 65_535


@functools.cache
def _relations(model):
    return [f for f in model._meta.concrete_fields if f.is_relation]


def _fill_relations(instance):
    """What bulk_create does first: a relation set to an instance that was saved after being assigned
    takes its id now; one still unsaved is refused, as save() would refuse it."""
    for field in _relations(type(instance)):
        if getattr(instance, field.attname) is None and field.is_cached(instance):
            related = field.get_cached_value(instance)
            if related is not None:
                if related.pk is None:
                    raise ValueError(f"insert_many() prohibited to prevent data loss due to unsaved related "
                                     f"object '{field.name}'.")
                setattr(instance, field.attname, related.pk)


def _native_values(count, casts):
    """`count` VALUES rows in PostgreSQL's placeholders ($1, …), one per cast ("" for none), row after row."""
    width = len(casts)
    return ", ".join("(" + ", ".join(f"${row * width + col + 1}{cast}" for col, cast in enumerate(casts)) + ")"
                     for row in range(count))


@functools.lru_cache(maxsize=256)
def _insert_many_sql(model, with_pk, count):
    """INSERT of `count` rows in PostgreSQL's placeholders, ids returned when it allocates them."""
    sql, plan = _insert_sql(model, with_pk)
    returning = "" if with_pk else f" RETURNING {quote(model._meta.pk.column)}"
    return f"{sql.split(' VALUES ')[0]} VALUES {_native_values(count, [''] * len(plan))}{returning}"


def insert_many(model, instances):
    """`model.objects.bulk_create(instances)`, fast on PostgreSQL: one INSERT … VALUES of parameters
    bound on the server, values prepared as in insert_statement, ids read back for the instances
    that had none. Django's bulk_create binds an array per column on the client, quoting every value
    in Python; for a page of orders that quoting was a tenth of the whole backfill."""
    if not instances:
        return instances
    db = _db()
    if db.vendor != ALLOCATES_IDS:
        return model.objects.bulk_create(instances)
    if len(instances) >= COPY_FROM:
        return _copy_many(model, instances, db)
    for with_pk in (True, False):
        group = [i for i in instances if (i.pk is not None) is with_pk]
        if not group:
            continue
        plan = _insert_sql(model, with_pk)[1]
        per_statement = MAX_PARAMS // len(plan)
        for start in range(0, len(group), per_statement):
            chunk = group[start:start + per_statement]
            params = []
            for instance in chunk:
                _fill_relations(instance)
                params.extend(_params(instance, plan, db))
            with cursor(native=True) as cur:
                cur.execute(_insert_many_sql(model, with_pk, len(chunk)), params)
                if not with_pk:
                    for instance, (pk,) in zip(chunk, cur.fetchall()):
                        instance.pk = pk
    mark_saved(*instances)
    return instances


# From this many rows an insert goes by COPY: PostgreSQL parses no statement of tens of thousands of
# parameters, and psycopg writes the rows in its binary-capable C loop.
COPY_FROM = 1_000


def _copy_many(model, instances, db):
    """insert_many by COPY … FROM STDIN; ids are reserved first (one nextval per row, one query) for the
    rows that have none, as an INSERT … RETURNING would have given them."""
    missing = [i for i in instances if i.pk is None]
    if missing:
        with cursor() as cur:
            cur.execute(f"SELECT {_sequence_sql(model)} FROM generate_series(1, %s)", [len(missing)])
            for instance, (pk,) in zip(missing, cur.fetchall(), strict=True):
                instance.pk = pk
    sql, plan = _insert_sql(model, True)
    columns = sql[sql.index("(") + 1:sql.index(")")]
    with cursor() as cur:
        with cur.cursor.copy(f"COPY {table(model)} ({columns}) FROM STDIN") as copy:
            for instance in instances:
                _fill_relations(instance)
                copy.write_row(_params(instance, plan, db))
    mark_saved(*instances)
    return instances


def upsert_values(model, fields, values, *, unique, update):
    """Insert rows given as tuples of the `fields` (attnames) values, and where one collides on the
    `unique` fields' constraint, set its `update` fields to the new row's: QuerySet.bulk_create(
    update_conflicts=True)'s result, without an instance per row.

    For an integration's own record of what it read, a row per line of a large file: on PostgreSQL
    one INSERT … ON CONFLICT DO UPDATE of parameters bound on the server per MAX_PARAMS, values
    prepared by the model's fields (as insert_many's); bulk_create built an instance and quoted every
    value in Python, a sixth of an ERP import. A row colliding with one before it in the same call
    is the caller's to leave out (PostgreSQL refuses a row updated twice by one statement)."""
    if not values:
        return
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    db = _db()
    if db.vendor != ALLOCATES_IDS:
        model.objects.bulk_create([model(**dict(zip(fields, row))) for row in values], update_conflicts=True,
                                  unique_fields=[by_name[n].name for n in unique],
                                  update_fields=[by_name[n].name for n in update])
        return
    plan = _values_plan(model, tuple(fields))
    per_statement = MAX_PARAMS // len(fields)
    for start in range(0, len(values), per_statement):
        chunk, params = values[start:start + per_statement], []
        for row in chunk:
            params.extend(_value_params(row, plan, db))
        with cursor(native=True) as cur:
            cur.execute(_upsert_sql(model, tuple(fields), tuple(unique), tuple(update), len(chunk)), params)


@functools.lru_cache(maxsize=64)
def _upsert_sql(model, fields, unique, update, count):
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    names = ", ".join(quote(by_name[n].column) for n in fields)
    sets = ", ".join(f"{quote(by_name[n].column)} = EXCLUDED.{quote(by_name[n].column)}" for n in update)
    conflict = ", ".join(quote(by_name[n].column) for n in unique)
    return (f"INSERT INTO {table(model)} ({names}) VALUES {_native_values(count, [''] * len(fields))} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}")


def insert_returning_pk(instance):
    """Insert `instance` (its pk left to the database) in one hand-built statement; sets its pk."""
    sql, params = insert_statement(instance)
    with cursor() as cur:
        cur.execute(f"{sql} RETURNING {quote(type(instance)._meta.pk.column)}", params)
        instance.pk = cur.fetchone()[0]
    mark_saved(instance)
    return instance


def binds_arrays():
    """Whether a list of values goes as one array parameter (sql.in_list with count None)."""
    return _db().vendor == ALLOCATES_IDS


def list_params(values):
    """The parameters of sql.in_list for `values`: one array, or the values one by one."""
    return [list(values)] if binds_arrays() else list(values)


def convert(model, name, value):
    """A column value read by a hand-written statement as the model's field holds it (from_row's
    converters for one column: times are text on SQLite)."""
    col, functions = _field_converters(model, name)
    for function in functions:
        value = function(value, col, _db())
    return value


@functools.cache
def _field_converters(model, name):
    col = model._meta.get_field(name).get_col(model._meta.db_table)
    return col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)


def values_among(model, fields, key, values, **equal):
    """`model.objects.filter(**equal, <key>__in=values).values_list(*fields)` as tuples, in one
    hand-written statement with the values as one array on PostgreSQL: Django compiling and binding
    an IN list of a thousand values cost more than the database spent on it. `equal` names fields
    and values (constants of the caller's); values come back as the fields hold them.

    On PostgreSQL each value is looked up on its own (a lateral join on the array's elements): with
    `equal` beside it, `key = ANY(array)` let the planner of a table its statistics call small (one
    an import grows from empty) scan every row of the `equal` value per call instead, and an import
    of 100,000 rows spent most of its time there."""
    if not values:
        return []
    values = list(dict.fromkeys(values))  # one row back per value found
    sql = _values_among_sql(model, tuple(fields), key, tuple(equal), None if binds_arrays() else len(values))
    with cursor() as cur:
        cur.execute(sql, [*list_params(values), *equal.values()])
        found = cur.fetchall()
    convert = [(i, col, functions) for i, (col, functions) in enumerate(_field_converters(model, name)
                                                                         for name in fields) if functions]
    if not convert:
        return found
    db, converted = _db(), []
    for row in found:
        row = list(row)
        for i, col, functions in convert:
            for function in functions:
                row[i] = function(row[i], col, db)
        converted.append(tuple(row))
    return converted


@functools.lru_cache(maxsize=64)
def _values_among_sql(model, fields, key, equal, count):
    column = functools.partial(_column, model)
    equals = [f"{column(name)} = %s" for name in equal]
    if count is None:  # an array: each element looked up by the index on (equal…, key) or (key)
        where = " AND ".join([f"{column(key)} = k.v", *equals])
        return (f"SELECT {', '.join('t.' + column(name) for name in fields)} FROM unnest(%s::{_array_type(model, key)}) AS k(v) "
                f"CROSS JOIN LATERAL (SELECT * FROM {table(model)} WHERE {where} OFFSET 0) t")
    where = " AND ".join([in_list(column(key), count), *equals])
    return f"SELECT {', '.join(map(column, fields))} FROM {table(model)} WHERE {where}"


def _array_type(model, name):
    return f"{model._meta.get_field(name).db_type(connection)}[]"


def _column(model, name):
    return quote(model._meta.get_field(name).column)


@functools.cache
def columns(model):
    """The model's columns in field order, for a SELECT or RETURNING list that `from_row` reads."""
    return ", ".join(quote(f.column) for f in model._meta.concrete_fields)


@functools.cache
def _converters(model):
    table = model._meta.db_table
    found = []
    for i, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(table)
        functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if functions:
            found.append((i, col, functions))
    return found


def from_row(model, row):
    """The instance a queryset would load from `row` (the values of `columns(model)`), without
    compiling one: the same converters turn column values into field values (JSON, times on SQLite).

    Built as Model.from_db builds it, without running Model.__init__ where nothing but Django's own
    work happens in it (_loading): its signals, sent to no one, and its generic loop over the fields
    cost more than the rest of loading a batch's thousand orders."""
    values, db = list(row), _db()
    for i, col, functions in _converters(model):
        for convert in functions:
            values[i] = convert(values[i], col, db)
    loading = _loading(model)
    if loading is None or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(db.alias, None, values)
    plain, stored, through, after = loading
    instance = model.__new__(model)
    instance._state = state = ModelState()
    instance.__dict__.update(zip(plain, stored(values)))
    for i, attname in through:
        setattr(instance, attname, values[i])  # a descriptor of its own (an FSM state)
    if after is not None:
        after(instance)
    state.adding, state.db = False, db.alias
    return instance


def new(model, **values):
    """`model(**values)`, the unsaved instance, built as Model.__init__ builds it without running it
    where it does only Django's own work (_loading): each field takes its value given (a relation by
    its name, as an instance or None, or by its id) or its default. For instances made by the
    thousand (an import's timeline events), where __init__'s generic handling of keywords cost more
    than writing the rows."""
    building = _building(model)
    if building is None or not values.keys() <= building[1] or pre_init.has_listeners(model) or (
            post_init.has_listeners(model)):
        return model(**values)
    fields, _, after = building
    instance = model.__new__(model)
    instance._state = ModelState()
    stored = instance.__dict__
    for name, attname, relation, plain, field in fields:
        if relation and name in values:
            related = values[name]
            if related is None and relation is ForwardManyToOneDescriptor:
                stored[attname] = None
                instance._state.fields_cache[name] = None  # as the relation's descriptor caches it
            else:
                setattr(instance, name, related)
        elif attname in values:
            if plain:
                stored[attname] = values[attname]
            else:
                setattr(instance, attname, values[attname])
        elif plain:
            stored[attname] = field.get_default()
        else:
            setattr(instance, attname, field.get_default())
    if after is not None:
        after(instance)
    return instance


@functools.cache
def _building(model):
    """How `new` builds a model's instance: ([(name, attname, the type of its descriptor when it is a
    relation set by name, whether its attname's descriptor stores a value as it is, field)], the
    keywords it takes, what runs after or None); None as _loading."""
    after = _init_after(model)
    if after is False:
        return None
    fields, names = [], set()
    for field in model._meta.fields:
        if field.column is None or field.generated:
            continue
        relation = type(model.__dict__.get(field.name)) if field.is_relation else None
        fields.append((field.name, field.attname, relation, _stores(model, field.attname), field))
        names.update({field.name, field.attname})
    return tuple(fields), frozenset(names), after


def _init_after(model):
    """What runs after Model.__init__'s own work for the model (django-fsm's record of the initial
    state, or None); False when its __init__ does more."""
    after = None
    for klass in model.__mro__:
        if "__init__" not in klass.__dict__ or klass in (models.Model, object):
            continue
        if klass is ConcurrentTransitionMixin:
            after = ConcurrentTransitionMixin._update_initial_state
            continue
        return False
    return after


def _stores(model, attname):
    """Whether setting the attribute on a new instance only stores the value (no descriptor of its
    own, or a foreign key's id, whose descriptor forgets a cached object a new instance has not)."""
    descriptor = model.__dict__.get(attname) or getattr(model, attname, None)
    return not hasattr(descriptor, "__set__") or type(descriptor) is ForeignKeyDeferredAttribute


@functools.cache
def _loading(model):
    """How from_row sets a model's field values as Model.__init__ would: (the attnames whose
    descriptor stores a value as it is, a getter of their values from a row, [(index, attname)] of
    those set through their descriptor, what runs after or None); None when the model's __init__
    does more than Django's (and django-fsm's record of the initial state, run after)."""
    after = _init_after(model)
    if after is False:
        return None
    plain, through = [], []
    for i, field in enumerate(model._meta.concrete_fields):
        if _stores(model, field.attname):
            plain.append((i, field.attname))
        else:
            through.append((i, field.attname))
    stored = operator.itemgetter(*(i for i, _ in plain)) if len(plain) > 1 else (lambda row: [row[plain[0][0]]])
    return tuple(name for _, name in plain), stored, tuple(through), after


def mark_saved(*instances):
    """The instances were written by raw statements: make them behave as loaded from the database."""
    for instance in instances:
        instance._state.adding = False
        instance._state.db = connection.alias


@functools.cache
def _sequence_sql(model):
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        (sequence,) = cursor.fetchone()
    return f"nextval('{sequence}')"


def next_id_sql(model):
    """An SQL expression that reserves the model's next id, or NULL where ids are not allocated ahead."""
    return _sequence_sql(model) if connection.vendor == ALLOCATES_IDS else "NULL"


@contextlib.contextmanager
def cursor(native=False):
    """A Django cursor (errors, execute wrappers and query logging as usual) that binds parameters on
    the server on PostgreSQL, where psycopg can prepare what it runs often; Django's own cursors bind
    on the client and never prepare. Elsewhere the usual cursor.

    `native`: the SQL uses PostgreSQL's own placeholders ($1, $2, …), which psycopg passes on without
    parsing the text for %s (it caches that parse only for statements under 4 kB, and a multi-row
    insert is longer). PostgreSQL only.

    On PostgreSQL one psycopg cursor per connection and kind serves every call: a new one costs more
    CPU than the statement (its adapters start cold). It skips the ping Django sends on a kept
    connection before a request's first query (CONN_HEALTH_CHECKS): a caller whose statement may be
    its request's first handles a dropped connection itself (see the webhook receiver)."""
    db = _db()
    if db.vendor != "postgresql":
        if native:
            raise ValueError("native placeholders are PostgreSQL's")
        with db.cursor() as cur:
            yield cur
        return
    db.ensure_connection()
    db.validate_thread_sharing()
    kind = db.Database.RawCursor if native else db.Database.Cursor
    cursors = db.__dict__.setdefault("_aftercare_cursors", {})
    raw = cursors.get(kind)
    if raw is None or raw.closed or raw.connection is not db.connection:
        raw = cursors[kind] = kind(db.connection)
        _load_times_natively(raw, db)
    yield db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


@contextlib.contextmanager
def prepared_reads():
    """Within the block, the ORM's statements too bind their parameters on the server on PostgreSQL,
    so psycopg prepares those the connection runs often (see `cursor`): for the reads a person waits
    on, the same few statements each time (an API lookup's page of customers took PostgreSQL 2.6 ms
    to plan and 0.3 ms to run). Elsewhere, and on a connection the block had to open again, nothing
    changes."""
    db = _db()
    if db.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.close_if_health_check_failed()  # as Django does before a request's first query
    db.ensure_connection()
    raw = db.connection
    kept, raw.cursor_factory = raw.cursor_factory, ServerBindingCursor
    try:
        yield
    finally:
        raw.cursor_factory = kept


def _load_times_natively(raw, db):
    """Read timestamptz with psycopg's own (C) loader where it gives what Django's gives: Django
    registers a loader in Python that stamps every time with the connection's zone, a tenth of the
    CPU of a batch reading its orders; in a session whose time zone is UTC, as Django sets it with
    USE_TZ, psycopg's own already returns times in UTC (datetime.timezone.utc)."""
    if db.timezone_name == "UTC" and db.timezone is datetime.UTC:
        oid = db.Database.postgres.types["timestamptz"].oid
        raw.adapters.register_loader(oid, db.Database.adapters.get_loader(oid, db.Database.pq.Format.TEXT))


@functools.cache
def _together_sql(statements):
    *first, last = statements
    return "WITH " + ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(first)) + " " + last


def execute_together(statements):
    """Run the (sql, params) writes in order: one statement on PostgreSQL, one each elsewhere."""
    with cursor() as cur:
        if connection.vendor == ALLOCATES_IDS and len(statements) > 1:
            params = [p for _, statement_params in statements for p in statement_params]
            cur.execute(_together_sql(tuple(sql for sql, _ in statements)), params)
        else:
            for sql, params in statements:
                cur.execute(sql, params)


@functools.cache
def _update_sql(model, fields):
    columns = [model._meta.get_field(name) for name in fields]
    sets = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    return f"UPDATE {table(model)} SET {sets} WHERE {quote(model._meta.pk.column)} = %s", columns


def update_statement(instance, fields):
    """(sql, params) writing `fields` of `instance` by its primary key."""
    sql, columns = _update_sql(type(instance), tuple(fields))
    db = _db()
    return sql, [*(f.get_db_prep_save(getattr(instance, f.attname), db) for f in columns), instance.pk]


# A write of at most this many rows goes as one statement (see write); more, one statement per kind.
TOGETHER_ROWS = 12


def write(steps):
    """Run ("insert", model, instances) and ("update", model, instances, fields) steps in order.

    A few rows go to PostgreSQL as one statement (execute_together: a handoff, its owner row and its
    event, one round trip); a row inserted so gets no id back, so one that others refer to needs its
    id reserved ahead (next_id_sql). More rows go set-based, one insert_many or update_many per step."""
    count = sum(len(step[2]) for step in steps)
    if connection.vendor == ALLOCATES_IDS and count <= TOGETHER_ROWS:
        statements = []
        for kind, _, instances, *fields in steps:
            for instance in instances:
                if kind == "insert":
                    _fill_relations(instance)
                statements.append(insert_statement(instance) if kind == "insert"
                                  else update_statement(instance, fields[0]))
        if statements:
            execute_together(statements)
        mark_saved(*(i for step in steps if step[0] == "insert" for i in step[2]))
        return
    for kind, model, instances, *fields in steps:
        if kind == "insert":
            insert_many(model, instances)
        else:
            update_many(model, instances, fields[0])


def update_many(model, instances, fields):
    """Write `fields` of each instance by primary key: QuerySet.bulk_update's result.

    On PostgreSQL one UPDATE … FROM (VALUES …): bulk_update builds a CASE per field and row, which
    cost more CPU than the database spent on the update. Values are prepared by the model's fields
    (those PostgreSQL takes as they are, passed as they are: _preparer). The ids also go as one array
    the rows are found by (their primary key's index): joined to the VALUES alone, the planner read
    a table of some 100,000 rows whole for a thousand of them (a hash join costs less than a
    thousand index probes in its model), on every call.
    """
    if not instances:
        return
    if connection.vendor != ALLOCATES_IDS:
        model.objects.bulk_update(instances, fields)
        return
    pk, columns = model._meta.pk, tuple(model._meta.get_field(name) for name in fields)
    db, per_statement = _db(), (MAX_PARAMS - 1) // (1 + len(columns))  # and the array of ids
    plan = _values_plan(model, (pk.attname, *(f.attname for f in columns)))
    names = [f.attname for f in columns]
    for start in range(0, len(instances), per_statement):
        chunk, params = instances[start:start + per_statement], []
        for instance in chunk:
            params.extend(_value_params([instance.pk, *map(instance.__getattribute__, names)], plan, db))
        params.append([instance.pk for instance in chunk])
        with cursor(native=True) as cur:
            cur.execute(_update_many_sql(model, pk, columns, len(chunk)), params)


@functools.lru_cache(maxsize=256)
def _update_many_sql(model, pk, columns, count):
    """UPDATE … FROM (VALUES …) of `count` rows in PostgreSQL's placeholders, each value cast to its column's type."""
    values = _native_values(count, [f"::{f.db_type(connection)}" for f in [pk, *columns]])
    names = ", ".join(quote(f.column) for f in [pk, *columns])
    sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    return (f"UPDATE {table(model)} AS t SET {sets} FROM (VALUES {values}) "
            f"AS v ({names}) WHERE t.{quote(pk.column)} = v.{quote(pk.column)} "
            f"AND t.{quote(pk.column)} = ANY(${count * (1 + len(columns)) + 1}::{_array_type(model, pk.name)})")


def analyze(*models):
    """Refresh PostgreSQL's statistics of the models' tables (elsewhere nothing).

    For bulk loads (a store's first backfill): a table that grew from nothing since autovacuum last
    looked is planned as if nearly empty, and a lookup of a hundred orders then scans the store's
    every order instead of probing the index. PostgreSQL's advice for bulk loads is to ANALYZE.
    """
    if connection.vendor != ALLOCATES_IDS:
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(table(model) for model in models))
