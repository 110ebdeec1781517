"""ORM operations for the paths that run for every order, at a fraction of their cost.

The ORM spends more CPU composing a statement than a local PostgreSQL takes to answer it: on
the sourcing job's connection, `select_for_update().get(pk=…)` costs about 0.4 ms of CPU and
`bulk_create` of three rows about 0.5 ms (the query compiler, and psycopg quoting the UNNEST
arrays it writes), against 0.1-0.2 ms for the same statements sent by hand. The job (≥ 100
orders/s per process) runs one lock and several inserts per order, capture a dozen writes.
These keep the ORM's field semantics (converters on read; pre_save and get_db_prep_save on
write, per backend) and send one plain statement each. No signals are sent (bulk_create and
QuerySet.update send none either): use them only for models nothing listens to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import AutoField, Model
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

# (model, backend vendor) -> ("SELECT <every column> FROM <table>", " FOR UPDATE" or "",
# attnames, converters per column)
_SELECTS: dict[tuple[type[Model], str], tuple[str, str, list[str], list[tuple]]] = {}


def lock(model: type[M], pk, *, using: str | None = None) -> M:
    """`model.objects.select_for_update().get(pk=pk)`: every concrete field, the row locked
    until the transaction ends (on backends that lock rows). Raises model.DoesNotExist."""
    using = using or router.db_for_write(model)
    connection = connections[using]
    if connection.get_autocommit():
        raise TransactionManagementError("lock() cannot be used outside of a transaction.")
    select, for_update, names, converters = _select(model, connection)
    pk_column = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{select} WHERE {pk_column} = %s{for_update}",
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return model.from_db(using, names, _converted(row, converters, connection))


def lock_many(model: type[M], pks: Iterable, *, using: str | None = None) -> list[M]:
    """`model.objects.select_for_update().filter(pk__in=pks).order_by("pk")`: the rows that
    exist, locked one after another in primary-key order (the order that avoids deadlocks)."""
    using = using or router.db_for_write(model)
    connection = connections[using]
    if connection.get_autocommit():
        raise TransactionManagementError("lock_many() cannot be used outside of a transaction.")
    pk_column = connection.ops.quote_name(model._meta.pk.column)
    return _rows(
        model, "pk", pks, using, connection, suffix=f" ORDER BY {pk_column}", lock_rows=True
    )


def fetch(
    model: type[M], field_name: str, values: Iterable, *, using: str | None = None, **equal
) -> list[M]:
    """`model.objects.filter(**{f"{field_name}__in": values}, **equal)`, where `equal` names
    fields (a foreign key by its attname: `channel_id=…`) and values other than None: every
    concrete field, rows in no particular order (none for no values, without a query)."""
    using = using or router.db_for_read(model)
    return _rows(model, field_name, values, using, connections[using], equal=equal)


def _rows(
    model, field_name, values, using, connection, *, equal=None, suffix="", lock_rows=False
) -> list:
    opts = model._meta
    quote = connection.ops.quote_name
    field = opts.pk if field_name == "pk" else opts.get_field(field_name)
    params = [field.get_db_prep_value(value, connection) for value in dict.fromkeys(values)]
    if not params:
        return []
    select, for_update, names, converters = _select(model, connection)
    conditions = [f"{quote(field.column)} IN ({', '.join(['%s'] * len(params))})"]
    for name, value in (equal or {}).items():
        other = opts.get_field(name)
        conditions.append(f"{quote(other.column)} = %s")
        params.append(other.get_db_prep_value(value, connection))
    sql = f"{select} WHERE {' AND '.join(conditions)}{suffix}"
    with connection.cursor() as cursor:
        cursor.execute(sql + (for_update if lock_rows else ""), params)
        rows = cursor.fetchall()
    return [model.from_db(using, names, _converted(row, converters, connection)) for row in rows]


def _converted(row: Sequence, converters: list[tuple], connection) -> Sequence:
    if converters:
        row = list(row)
        for index, functions, field in converters:
            value = row[index]
            for function in functions:
                value = function(value, field, connection)
            row[index] = value
    return row


def _select(model: type[Model], connection) -> tuple[str, str, list[str], list[tuple]]:
    key = (model, connection.vendor)
    if key not in _SELECTS:
        opts = model._meta
        quote = connection.ops.quote_name
        fields = list(opts.concrete_fields)
        converters = []
        for index, field in enumerate(fields):
            # What SQLCompiler.get_converters applies to a column: the backend's, the field's.
            column = field.get_col(opts.db_table)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            if functions:
                converters.append((index, functions, column))
        _SELECTS[key] = (
            f"SELECT {', '.join(quote(field.column) for field in fields)} "
            f"FROM {quote(opts.db_table)}",
            " FOR UPDATE" if connection.features.has_select_for_update else "",
            [field.attname for field in fields],
            converters,
        )
    return _SELECTS[key]


def insert(objs: Sequence[Model], *, using: str | None = None) -> None:
    """`bulk_create(objs)` for unsaved instances of one model: primary keys are set on the
    instances, and so are the values pre_save gives (created_at, updated_at). No signals
    (neither has bulk_create). What it does not handle it hands to bulk_create: multi-table
    inheritance, preset primary keys, fields that need a cast in VALUES, values that are
    expressions (a database default), a backend that cannot return inserted rows."""
    if not objs:
        return
    model = type(objs[0])
    using = using or router.db_for_write(model)
    connection = connections[using]
    plan = _insert_plan(model, connection)
    rows = _insert_rows(plan, objs, connection) if plan is not None else None
    if rows is None:
        model._base_manager.using(using).bulk_create(objs)
        return
    fields, statement, values, returning = plan
    batch = max(connection.ops.bulk_batch_size(fields, objs), 1)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            cursor.execute(
                statement + ", ".join([values] * len(chunk)) + returning,
                [value for row in chunk for value in row],
            )
            for obj, (pk,) in zip(objs[start : start + batch], cursor.fetchall(), strict=True):
                _set_inserted(obj, pk, using, connection)


# Backends whose INSERT takes the upsert clause (SQLite since 3.24); the others insert in a
# savepoint and catch the IntegrityError.
ON_CONFLICT_DO_NOTHING = frozenset({"postgresql", "sqlite"})


def insert_unless_conflict(obj: Model, *, using: str | None = None) -> bool:
    """Insert one unsaved instance unless a unique constraint already holds its values (then
    nothing is written and False is returned). Like an INSERT that may raise IntegrityError
    wrapped in a savepoint, without the savepoint's two round trips: on PostgreSQL a row that
    an open transaction is inserting makes this wait for that transaction's outcome, too."""
    model = type(obj)
    using = using or router.db_for_write(model)
    connection = connections[using]
    plan = _insert_plan(model, connection)
    rows = _insert_rows(plan, [obj], connection) if plan is not None else None
    if rows is None or connection.vendor not in ON_CONFLICT_DO_NOTHING:
        try:
            with transaction.atomic(using=using):
                model._base_manager.using(using).bulk_create([obj])
        except IntegrityError:
            return False
        return True
    _, statement, values, returning = plan
    with connection.cursor() as cursor:
        cursor.execute(f"{statement}{values} ON CONFLICT DO NOTHING{returning}", rows[0])
        row = cursor.fetchone()
    if row is None:
        return False
    _set_inserted(obj, row[0], using, connection)
    return True


# (model, backend vendor) -> (fields, "INSERT INTO … VALUES ", "(%s, …)", " RETURNING pk"),
# or None when the model needs bulk_create
_INSERT_PLANS: dict[tuple[type[Model], str], tuple | None] = {}


def _insert_plan(model: type[Model], connection) -> tuple | None:
    key = (model, connection.vendor)
    if key not in _INSERT_PLANS:
        opts = model._meta
        fields = [
            field
            for field in opts.concrete_fields
            if not field.generated and not (isinstance(field, AutoField) and field.primary_key)
        ]
        if (
            opts.parents
            or not connection.features.can_return_rows_from_bulk_insert
            or any(hasattr(field, "get_placeholder") for field in fields)
        ):
            _INSERT_PLANS[key] = None
        else:
            quote = connection.ops.quote_name
            _INSERT_PLANS[key] = (
                fields,
                f"INSERT INTO {quote(opts.db_table)} "
                f"({', '.join(quote(field.column) for field in fields)}) VALUES ",
                "(" + ", ".join(["%s"] * len(fields)) + ")",
                f" RETURNING {quote(opts.pk.column)}",
            )
    return _INSERT_PLANS[key]


def _insert_rows(plan: tuple, objs: Sequence[Model], connection) -> list[list] | None:
    """Each instance's values as the database takes them, or None if one needs bulk_create."""
    fields = plan[0]
    rows = []
    for obj in objs:
        if obj.pk is not None:
            return None
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        row = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        if any(hasattr(value, "resolve_expression") for value in row):
            return None
        rows.append(row)
    return rows


def _set_inserted(obj: Model, pk, using: str, connection) -> None:
    opts = obj._meta
    for converter in opts.pk.get_db_converters(connection):
        pk = converter(pk, opts.pk, connection)
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = using


# (model, field names, backend vendor) -> UPDATE statement
_UPDATE_STATEMENTS: dict[tuple[type[Model], tuple[str, ...], str], tuple[str, list]] = {}


def update(obj: Model, fields: Sequence[str], *, using: str | None = None) -> None:
    """`obj.save(update_fields=fields)` without signals: one UPDATE of those columns by primary
    key (an auto_now field among them gets the time, as with save). Raises DatabaseError if
    the row is gone, as save does."""
    model = type(obj)
    using = using or obj._state.db or router.db_for_write(model)
    connection = connections[using]
    key = (model, tuple(fields), connection.vendor)
    if key not in _UPDATE_STATEMENTS:
        opts = model._meta
        quote = connection.ops.quote_name
        columns = [opts.get_field(name) for name in fields]
        _UPDATE_STATEMENTS[key] = (
            f"UPDATE {quote(opts.db_table)} SET "
            f"{', '.join(f'{quote(field.column)} = %s' for field in columns)} "
            f"WHERE {quote(opts.pk.column)} = %s",
            columns,
        )
    sql, columns = _UPDATE_STATEMENTS[key]
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in columns]
    params.append(model._meta.pk.get_db_prep_value(obj.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{model._meta.object_name} {obj.pk} was not updated.")


def increment(
    model: type[Model],
    field_name: str,
    amounts: Mapping,
    *,
    also: Mapping[str, object] | None = None,
    using: str | None = None,
) -> int:
    """`filter(pk__in=amounts).update(field=F(field) + Case(When(pk=pk, then=amount), …),
    **also)`: each row's counter moves by its own amount, in one UPDATE. Returns the rows
    updated. Guards belong to the caller (the rows locked and checked first)."""
    if not amounts:
        return 0
    using = using or router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    quote = connection.ops.quote_name
    pk_field, counter = opts.pk, opts.get_field(field_name)
    column, pk_column = quote(counter.column), quote(pk_field.column)
    pks = [pk_field.get_db_prep_value(pk, connection) for pk in amounts]
    assignments = [
        f"{column} = {column} + CASE {pk_column}{' WHEN %s THEN %s' * len(pks)} ELSE 0 END"
    ]
    params: list = []
    for pk, amount in zip(pks, amounts.values(), strict=True):
        params += [pk, counter.get_db_prep_save(amount, connection)]
    for name, value in (also or {}).items():
        field = opts.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    sql = (
        f"UPDATE {quote(opts.db_table)} SET {', '.join(assignments)} "
        f"WHERE {pk_column} IN ({', '.join(['%s'] * len(pks))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + pks)
        return cursor.rowcount
