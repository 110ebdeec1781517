"""Two ORM operations for the paths that run for every order, at a fraction of their cost.

The ORM spends more CPU composing a statement than a local PostgreSQL takes to answer it: on
the sourcing job's connection, `select_for_update().get(pk=…)` costs about 0.4 ms of CPU and
`bulk_create` of three rows about 0.5 ms (the query compiler, and psycopg quoting the UNNEST
arrays it writes), against 0.1-0.2 ms for the same statements sent by hand. The job (≥ 100
orders/s per process) runs one lock and several inserts per order. These keep the ORM's
field semantics (converters on read; pre_save and get_db_prep_save on write, per backend)
and send one plain statement each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db import connections, router
from django.db.models import AutoField, Model
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

# (model, backend vendor) -> (SELECT … FOR UPDATE statement, attnames, converters per column)
_LOCK_STATEMENTS: dict[tuple[type[Model], str], tuple[str, list[str], list[tuple]]] = {}


def lock(model: type[M], pk, *, using: str | None = None) -> M:
    """`model.objects.select_for_update().get(pk=pk)`: every concrete field, the row locked
    until the transaction ends (on backends that lock rows). Raises model.DoesNotExist."""
    using = using or router.db_for_write(model)
    connection = connections[using]
    if connection.get_autocommit():
        raise TransactionManagementError("lock() cannot be used outside of a transaction.")
    key = (model, connection.vendor)
    if key not in _LOCK_STATEMENTS:
        _LOCK_STATEMENTS[key] = _lock_statement(model, connection)
    sql, names, converters = _LOCK_STATEMENTS[key]
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.pk.get_db_prep_value(pk, connection)])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    if converters:
        row = list(row)
        for index, functions, field in converters:
            value = row[index]
            for function in functions:
                value = function(value, field, connection)
            row[index] = value
    return model.from_db(using, names, row)


def _lock_statement(model: type[Model], connection) -> tuple[str, list[str], list[tuple]]:
    opts = model._meta
    quote = connection.ops.quote_name
    fields = list(opts.concrete_fields)
    sql = (
        f"SELECT {', '.join(quote(field.column) for field in fields)} "
        f"FROM {quote(opts.db_table)} WHERE {quote(opts.pk.column)} = %s"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    converters = []
    for index, field in enumerate(fields):
        # What SQLCompiler.get_converters applies to a column: the backend's, then the field's.
        column = field.get_col(opts.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            converters.append((index, functions, column))
    return sql, [field.attname for field in fields], converters


def insert(objs: Sequence[Model], *, using: str | None = None) -> None:
    """`bulk_create(objs)` for unsaved instances of one model: primary keys are set on the
    instances, and so are the values pre_save gives (created_at, updated_at). No signals
    (neither has bulk_create). What it does not handle it hands to bulk_create: multi-table
    inheritance, preset primary keys, fields that need a cast in VALUES, values that are
    expressions (a database default), a backend that cannot return inserted rows."""
    if not objs:
        return
    model = type(objs[0])
    opts = model._meta
    using = using or router.db_for_write(model)
    connection = connections[using]
    fields = [
        field
        for field in opts.concrete_fields
        if not field.generated and not (isinstance(field, AutoField) and field.primary_key)
    ]
    if (
        opts.parents
        or not connection.features.can_return_rows_from_bulk_insert
        or any(hasattr(field, "get_placeholder") for field in fields)
        or any(obj.pk is not None for obj in objs)
    ):
        model._base_manager.using(using).bulk_create(objs)
        return
    rows = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        row = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        if any(hasattr(value, "resolve_expression") for value in row):
            model._base_manager.using(using).bulk_create(objs)
            return
        rows.append(row)
    quote = connection.ops.quote_name
    values = "(" + ", ".join(["%s"] * len(fields)) + ")"
    statement = (
        f"INSERT INTO {quote(opts.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) VALUES "
    )
    returning = f" RETURNING {quote(opts.pk.column)}"
    converters = opts.pk.get_db_converters(connection)
    batch = max(connection.ops.bulk_batch_size(fields, objs), 1)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            cursor.execute(
                statement + ", ".join([values] * len(chunk)) + returning,
                [value for row in chunk for value in row],
            )
            for obj, (pk,) in zip(objs[start : start + batch], cursor.fetchall(), strict=True):
                for converter in converters:
                    pk = converter(pk, opts.pk, connection)
                obj.pk = pk
                obj._state.adding = False
                obj._state.db = using
