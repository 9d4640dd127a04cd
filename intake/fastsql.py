"""Prebuilt Core statements run straight on the driver's cursor (the intake hot path).

SQLAlchemy's ``Connection.execute`` spends about 40 µs of Python on every statement (an
execution context, events, the result object) beside the few microseconds SQLite needs for a
one-row INSERT; the processor runs about ten such statements a message, so that bookkeeping was
half its time (docs/benchmarks.md, "Issue 14, second pass"). A :class:`Prebuilt` statement is
compiled once per dialect and set of parameter names by SQLAlchemy itself, and its bind values
go through SQLAlchemy's own type processors (aware datetimes, JSON), so the row written is the
row ``Connection.execute`` would write (``tests/test_fastsql.py`` compares both). Only the
execution is skipped. A statement that needs more (Python-side column defaults, expanding
``IN`` parameters, escaped names) is run by ``Connection.execute`` as before.

It runs in the caller's transaction: ``session.connection()`` has begun it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement

from intake.writebehind import queue_for

_Key = tuple[str, tuple[str, ...], bool]


class _Compiled:
    __slots__ = ("compiled", "sql", "positional", "order", "processors", "sequence")

    def __init__(self, compiled: SQLCompiler, sequence: type) -> None:
        self.compiled = compiled
        self.sql = compiled.string
        self.positional = compiled.positional
        self.processors = dict(compiled._bind_processors)  # SQLAlchemy's own type processing
        # Positional: each parameter's name and its processor (None: the value as it is).
        self.order = tuple((key, self.processors.get(key)) for key in compiled.positiontup or ())
        self.sequence = sequence

    def parameters(self, values: Mapping[str, Any]) -> Any:
        # SQLAlchemy's own merge: the values given, those bound in the statement itself
        # (``kind == "auto_close"``), a missing required one refused.
        merged = self.compiled.construct_params(values, escape_names=False)
        if self.positional:
            row = [
                merged[key] if process is None else process(merged[key])
                for key, process in self.order
            ]
            return row if self.sequence is list else self.sequence(row)
        processors = self.processors
        return {
            key: processors[key](value) if key in processors else value
            for key, value in merged.items()
        }


class Prebuilt:
    """A Core statement, run on the cursor (see the module's docstring)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[_Key, _Compiled | None] = {}

    def _for(self, connection: Connection, keys: tuple[str, ...], many: bool) -> _Compiled | None:
        dialect = connection.dialect
        key = (dialect.name, keys, many)
        if key not in self._compiled:
            compiled = self.statement.compile(
                dialect=dialect, column_keys=list(keys), for_executemany=many
            )
            plain = (
                isinstance(compiled, SQLCompiler)
                and not compiled.insert_prefetch
                and not compiled.update_prefetch
                and not compiled.post_compile_params
                and not compiled.literal_execute_params
                and not compiled.escaped_bind_names
                and not compiled.schema_translate_map
                and not (many and isinstance(self.statement, UpdateBase) and compiled.returning)
            )
            sequence = dialect.execute_sequence_format
            self._compiled[key] = _Compiled(compiled, sequence) if plain else None
        return self._compiled[key]

    def run(self, connection: Connection, values: Mapping[str, Any]) -> None:
        """Execute with one row of values."""
        compiled = self._for(connection, tuple(sorted(values)), many=False)
        if compiled is None:
            connection.execute(self.statement, dict(values))
            return
        _execute(connection, compiled.sql, compiled.parameters(values), many=False, read=False)

    def scalar(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first row (a count, an id from RETURNING)."""
        compiled = self._for(connection, tuple(sorted(values)), many=False)
        if compiled is None:
            return connection.execute(self.statement, dict(values)).scalar()
        row = _execute(connection, compiled.sql, compiled.parameters(values), many=False, read=True)
        return row[0] if row is not None else None

    def send(self, connection: Connection, values: Mapping[str, Any]) -> Pending:
        """:meth:`scalar`, its answer read later: inside a write-behind scope several reads
        sent one after another are answered in one round trip (``intake.writebehind``);
        elsewhere the statement runs at once."""
        compiled = self._for(connection, tuple(sorted(values)), many=False)
        fairy = connection.connection
        if compiled is None or queue_for(fairy, start=True) is None:
            return Pending(value=self.scalar(connection, values))
        cursor = fairy.cursor()
        with _errors(connection, compiled.sql, cursor):
            cursor.execute(compiled.sql, compiled.parameters(values))
        return Pending(connection=connection, sql=compiled.sql, cursor=cursor)

    def many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row, in one driver call (no RETURNING)."""
        if not rows:
            return
        keys = tuple(sorted(rows[0]))
        compiled = self._for(connection, keys, many=len(rows) > 1)
        if compiled is None or any(tuple(sorted(row)) != keys for row in rows):
            connection.execute(self.statement, [dict(row) for row in rows])
            return
        if len(rows) == 1:
            _execute(connection, compiled.sql, compiled.parameters(rows[0]), many=False)
            return
        _execute(connection, compiled.sql, [compiled.parameters(row) for row in rows], many=True)


class Pending:
    """A statement sent by :meth:`Prebuilt.send`; :meth:`scalar` waits for its answer."""

    __slots__ = ("_connection", "_sql", "_cursor", "_value")

    def __init__(
        self,
        value: Any = None,
        connection: Connection | None = None,
        sql: str = "",
        cursor: Any = None,
    ) -> None:
        self._connection, self._sql, self._cursor, self._value = connection, sql, cursor, value

    def scalar(self) -> Any:
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            assert self._connection is not None
            with _errors(self._connection, self._sql, cursor):
                row = cursor.fetchone()  # in pipeline mode: sends the queue and waits for all
            cursor.close()
            self._value = row[0] if row is not None else None
        return self._value


def _execute(
    connection: Connection, sql: str, parameters: Any, many: bool, read: bool = False
) -> Any:
    """Run on the cursor; ``read``: return the first row. A statement not read is queued
    inside a write-behind scope (``intake.writebehind``), else run at once."""
    fairy = connection.connection  # the transaction's DBAPI connection (begun by the caller)
    # Not read: queued if a write-behind scope is open. Read: sent with whatever is queued.
    queued = not read and queue_for(fairy) is not None
    cursor = fairy.cursor()
    try:
        with _errors(connection, sql, cursor):
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            if read:
                return cursor.fetchone()  # in pipeline mode: sends the queue and waits for all
        return None
    finally:
        if not queued:
            cursor.close()


@contextmanager
def _errors(connection: Connection, sql: str, cursor: Any) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's, as ``Connection.execute`` raises them."""
    dialect = connection.dialect
    try:
        yield
    except dialect.loaded_dbapi.Error as error:
        fairy = connection.connection
        disconnect = dialect.is_disconnect(error, fairy, cursor)
        if disconnect:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(
            sql,
            None,  # parameters are never shown (db.make_engine hides them too)
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            dialect=dialect,
            connection_invalidated=disconnect,
        ) from error
