"""Write-behind on PostgreSQL: statements nobody reads a result of, sent without waiting.

Every statement on PostgreSQL costs a round trip: the client sends it, the server runs it, the
client waits for the answer. On this two-core machine the round trip (two system calls and two
context switches) costs more than the server's work for a one-row INSERT: about 180 µs a
statement, 85 µs of them the client's CPU, against 40 µs pipelined (docs/benchmarks.md,
"Write-behind"). The processor runs about ten statements a message.

Inside :func:`write_behind` a :class:`intake.fastsql.Prebuilt` statement whose result is not
read (``run``, ``many``) is queued in psycopg's pipeline mode instead of waited for. The queue is
sent along with the next statement whose result is read (``Prebuilt.scalar``: one round trip for
all), and settled — sent and every answer checked — before any statement SQLAlchemy runs itself
(an ORM query needs the result at once), before a commit or rollback, and when the scope ends.
The order of statements on the server is the order they were written in, so a query always sees
the rows queued before it.

Errors: a queued statement's error is raised later than it happened, at the next read or at the
settle, and the transaction is then aborted. The processor opens the scope only for a batch run
without SAVEPOINTs, where any error already means "roll the whole batch back and run it again,
each message alone" (``intake.pipeline``); the run alone has no write-behind, so the failing
message is found exactly. The scope's end checks that the transaction is not aborted, so a batch
never commits (which the server would turn into a silent rollback) after an error nobody saw.

SQLite: nothing changes (no round trip to save).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event, exc

# fairy.info[_KEY]: present while a scope is open; psycopg's pipeline() context manager,
# entered, once a statement was queued since the last settle (else None).
_KEY = "uketsuke.write_behind"


def queue_for(fairy: Any, start: bool = True) -> Any:
    """The psycopg connection in pipeline mode to queue a statement on, or None to run it now
    (no write-behind scope open on this connection; or nothing queued and not ``start``: a
    read with nothing before it gains nothing from the pipeline and would cost a settle)."""
    info = fairy.info
    if _KEY not in info or (info[_KEY] is None and not start):
        return None
    driver = fairy.driver_connection
    if info[_KEY] is None:
        info[_KEY] = driver.pipeline()
        info[_KEY].__enter__()
    return driver


def settle(fairy: Any, discard: bool = False) -> None:
    """Send what is queued and check every answer; leave pipeline mode. Raises the first error
    as SQLAlchemy's ``DBAPIError`` (without the statement's values); ``discard``: ignores it
    (the error that brought the caller here is the one to raise)."""
    pipeline = fairy.info.get(_KEY)
    if pipeline is None:
        return
    fairy.info[_KEY] = None
    if discard:
        with contextlib.suppress(Exception):
            pipeline.__exit__(None, None, None)
        return
    driver = fairy.driver_connection
    try:
        pipeline.__exit__(None, None, None)
    except driver.Error as error:
        raise exc.DBAPIError.instance(
            "(write-behind)", None, error, driver.Error, hide_parameters=True
        ) from error


@contextlib.contextmanager
def write_behind(connection: Connection) -> Iterator[None]:
    """Queue result-less prebuilt statements on ``connection`` until the scope ends (see the
    module's docstring); a no-op except on PostgreSQL with psycopg."""
    if connection.dialect.driver != "psycopg":
        yield
        return
    fairy = connection.connection
    fairy.info[_KEY] = None
    try:
        yield
        settle(fairy)
        if fairy.driver_connection.info.transaction_status.name == "INERROR":
            raise exc.InternalError(
                "(write-behind)", None, RuntimeError("the transaction was aborted"), True
            )
    except BaseException:
        settle(fairy, discard=True)
        raise
    finally:
        fairy.info.pop(_KEY, None)


def install(engine: Engine) -> None:
    """Settle the queue before every statement SQLAlchemy runs, and before commit and rollback
    (``intake.db.make_engine`` calls this for every psycopg engine)."""

    def _settle(conn: Connection, *_args: Any) -> None:
        settle(conn.connection)

    event.listen(engine, "before_cursor_execute", _settle)
    event.listen(engine, "commit", _settle)
    event.listen(engine, "rollback", lambda conn: settle(conn.connection, discard=True))
