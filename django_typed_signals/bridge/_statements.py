"""The statements of a delivery's hot path, built once per database.

A row's INSERT at send time, its claim and its done mark run for every
delivery: each is plain SQL compiled once (``functools.cache``) rather than
a queryset compiled per call, and the claim builds its ``Delivery`` from the
``RETURNING`` row with the fields' own converters. ``returns_rows()`` says
whether the database has ``UPDATE ... RETURNING``; without it ``_outbox``
falls back to querysets.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any, cast

from django.db import connections

from ..models import Delivery

__all__ = ["claim_row", "complete_row", "insert_one", "returns_rows"]

_Status = Delivery.Status


def returns_rows(alias: str) -> bool:
    """Whether ``UPDATE ... RETURNING`` saves the claim its second query."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return False


@functools.cache
def _insert_sql(alias: str) -> tuple[str, list[Any]]:
    """The one-row INSERT for ``alias`` and the fields it writes, built once."""
    fields = [f for f in _META.concrete_fields if not f.primary_key]
    columns = ", ".join(_column(alias, f.name) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {_table(alias)} ({columns}) VALUES ({marks}) "
        f"RETURNING {_column(alias, 'id')}"
    )
    return sql, fields


def insert_one(alias: str, delivery: Delivery) -> None:
    """``delivery``'s INSERT, its id read back; as ``bulk_create()`` would."""
    connection: Any = connections[alias]  # stubs: cursor() is untyped
    sql, fields = _insert_sql(alias)
    params = [
        f.get_db_prep_save(getattr(delivery, f.attname), connection) for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        delivery.pk = cursor.fetchone()[0]
    delivery._state.adding = False
    delivery._state.db = alias


def claim_row(
    alias: str,
    delivery_id: int,
    when: datetime,
    lease_until: datetime,
    token: uuid.UUID,
) -> Delivery | None:
    """``claim()``'s compare-and-set as one statement that returns the row
    it took under ``token``, or ``None``."""
    connection: Any = connections[alias]  # stubs: cursor() is untyped
    params: list[Any] = [
        _Status.RUNNING.value,
        _prep(connection, "lease_until", lease_until),
        _prep(connection, "lease_token", token),
        delivery_id,
        _Status.PENDING.value,
        _Status.RETRYING.value,
        _prep(connection, "available_at", when),
        _Status.RUNNING.value,
        _prep(connection, "lease_until", when),
    ]
    sql = _claim_sql(alias, asynchronous=not connection.in_atomic_block)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        return None
    return _row_from_db(alias, list(found))


def complete_row(
    alias: str, delivery_id: int, token: uuid.UUID, finished_at: datetime
) -> bool:
    """``complete()``'s done mark under ``token``; whether it was written."""
    connection: Any = connections[alias]  # stubs: cursor() is untyped
    sql = _complete_sql(alias, asynchronous=not connection.in_atomic_block)
    params: list[Any] = [
        _Status.DONE.value,
        _prep(connection, "finished_at", finished_at),
        delivery_id,
        _Status.RUNNING.value,
        _prep(connection, "lease_token", token),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount == 1)


@functools.cache
def _reader(alias: str) -> tuple[list[str], list[tuple[Any, list[Any]]]]:
    """Delivery's attribute names and each column's converters on ``alias``."""
    connection: Any = connections[alias]
    converters: list[tuple[Any, list[Any]]] = []
    for each in _META.concrete_fields:
        column = each.get_col(_META.db_table)
        converters.append(
            (
                column,
                connection.ops.get_db_converters(column)
                + each.get_db_converters(connection),
            )
        )
    return [each.attname for each in _META.concrete_fields], converters


def _row_from_db(alias: str, values: list[Any]) -> Delivery:
    """A ``Delivery`` from its columns' values, converted as a query would
    (JSON, UUIDs, datetimes on SQLite): what ``raw()`` does, without building
    a queryset for each claim."""
    connection: Any = connections[alias]
    names, converters = _reader(alias)
    converted: list[Any] = []
    for value, (expression, functions) in zip(values, converters, strict=True):
        for function in functions:
            value = function(value, expression, connection)
        converted.append(value)
    model: Any = Delivery  # stubs: from_db() is partially unknown
    return cast("Delivery", model.from_db(alias, names, converted))


@functools.cache
def _claim_sql(alias: str, *, asynchronous: bool) -> str:
    """The claim statement for ``alias``, built once."""

    def col(name: str) -> str:
        return _column(alias, name, qualified=True)

    status, attempts, lease = col("status"), col("attempts"), col("lease_until")
    columns = ", ".join(
        _column(alias, f.name, qualified=True) for f in _META.concrete_fields
    )
    status, mark = _as_text(alias, status), _as_text(alias, "%s")
    return (
        f"UPDATE {_table(alias)} SET {_column(alias, 'status')} = %s, "
        f"{_column(alias, 'lease_until')} = %s, "
        f"{_column(alias, 'lease_token')} = %s, "
        f"{_column(alias, 'attempts')} = {attempts} + 1"
        f"{_async_commit(alias, asynchronous)} "
        f"WHERE {col('id')} = %s AND ((({status} = {mark} OR {status} = {mark}) "
        f"AND {col('available_at')} <= %s) OR ({status} = {mark} AND {lease} < %s "
        f"AND {attempts} < {col('max_attempts')})) RETURNING {columns}"
    )


def _as_text(alias: str, expression: str) -> str:
    """``expression`` typed as ``text`` for PostgreSQL's parser.

    A ``varchar`` column compared with an untyped string matches no ``=``
    operator exactly, so a new connection's first such statement searches
    every candidate in the catalogs (about 0.3 ms, paid on each of a Celery
    worker's per-task connections); ``text = text`` is an exact match. The
    cast changes nothing else: ``varchar`` is ``text`` with a length check.
    """
    if connections[alias].vendor != "postgresql":
        return expression
    return f"({expression})::text"


@functools.cache
def _complete_sql(alias: str, *, asynchronous: bool) -> str:
    """``complete()``'s statement for ``alias``, built once."""

    def col(name: str) -> str:
        return _column(alias, name, qualified=True)

    return (
        f"UPDATE {_table(alias)} SET {_column(alias, 'status')} = %s, "
        f"{_column(alias, 'finished_at')} = %s, "
        f"{_column(alias, 'lease_until')} = NULL, "
        f"{_column(alias, 'lease_token')} = NULL{_async_commit(alias, asynchronous)} "
        f"WHERE {col('id')} = %s "
        f"AND {_as_text(alias, col('status'))} = {_as_text(alias, '%s')} "
        f"AND {col('lease_token')} = %s"
    )


_META: Any = Delivery._meta  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # stubs: no .column on the field union


def _table(alias: str) -> str:
    return connections[alias].ops.quote_name(str(_META.db_table))


def _prep(connection: Any, name: str, value: object) -> object:
    """``value`` as field ``name`` of ``Delivery`` sends it to ``connection``."""
    return _META.get_field(name).get_db_prep_value(value, connection)


def _column(alias: str, name: str, *, qualified: bool = False) -> str:
    """The quoted column of field ``name`` of ``Delivery`` on ``alias``."""
    column = connections[alias].ops.quote_name(str(_META.get_field(name).column))
    return f"{_table(alias)}.{column}" if qualified else column


def _async_commit(alias: str, asynchronous: bool) -> str:
    """An UPDATE's ``FROM`` clause that makes its own commit asynchronous.

    On PostgreSQL, in autocommit, the bookkeeping statements of a delivery
    (its claim; the done mark of a receiver that is not atomic) commit without
    waiting for their WAL flush: ``synchronous_commit`` off for their own
    one-statement transaction. A server crash may then lose the last such
    marks, which only lets the row run again (a lost claim; a lost done mark
    of an at-least-once receiver), never lose it; and any synchronous commit
    after them, such as the receiver's effect, flushes them first. Inside a
    caller's transaction the setting would outlive the statement: not there.
    """
    if not asynchronous or connections[alias].vendor != "postgresql":
        return ""
    return (
        " FROM (SELECT set_config('synchronous_commit', 'off', true)) "
        "AS typed_signals_async_commit"
    )
