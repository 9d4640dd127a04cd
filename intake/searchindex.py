"""The SQLite search index, kept up to date off the intake path (migration 0010).

New incidents and thread messages are only noted in ``incident_search_pending`` by triggers in
the processor's transaction; :func:`index_pending` moves noted rows into the FTS5 trigram index
``incident_search`` (docs/architecture.md, "The flow of one message"). It runs from the
scheduler's ``search-index`` job and before every dashboard search, so a search always sees
every row. Indexing a row replaces what the index held for it: a row noted twice, or changed by
0008's update triggers meanwhile, is indexed once with its current text. PostgreSQL keeps its
trigram indexes itself: nothing to do there.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

BATCH = 500
_SEARCHABLE = "(m.direction <> 'out' OR m.author IS NOT NULL)"

_HIGHEST = text(
    "SELECT max(seq) FROM (SELECT seq FROM incident_search_pending ORDER BY seq LIMIT :n)"
)
_TARGETS = "(SELECT DISTINCT target FROM incident_search_pending WHERE seq <= :last)"
_STATEMENTS = [
    text(f"DELETE FROM incident_search WHERE rowid IN {_TARGETS}"),
    text(
        "INSERT INTO incident_search(rowid, body, incident_id) "
        "SELECT -i.id, i.subject || char(10) || i.first_line || char(10), i.id "
        f"FROM incidents i WHERE -i.id IN {_TARGETS}"
    ),
    text(
        "INSERT INTO incident_search(rowid, body, incident_id) "
        "SELECT m.id, m.body || char(10), m.incident_id FROM incident_messages m "
        f"WHERE m.id IN {_TARGETS} AND {_SEARCHABLE}"
    ),
    text("DELETE FROM incident_search_pending WHERE seq <= :last"),
]
_EXISTS = text(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incident_search_pending'"
)


def deferred_indexing(connection: Connection) -> bool:
    """True on a SQLite database whose index is filled by :func:`index_pending`."""
    return connection.dialect.name == "sqlite" and connection.execute(_EXISTS).scalar() is not None


def index_pending(connection: Connection, batch: int = BATCH) -> int:
    """Index up to ``batch`` noted rows in the caller's transaction; returns how many notes
    were worked off (0: nothing waits, or this database indexes by itself)."""
    if not deferred_indexing(connection):
        return 0
    last = connection.execute(_HIGHEST, {"n": batch}).scalar()
    if last is None:
        return 0
    count = connection.execute(
        text("SELECT count(*) FROM incident_search_pending WHERE seq <= :last"), {"last": last}
    ).scalar_one()
    for statement in _STATEMENTS:
        connection.execute(statement, {"last": last})
    return int(count)


def catch_up(engine: Engine) -> int:
    """Everything noted, indexed now (before a search), in transactions of BATCH notes."""
    if engine.dialect.name != "sqlite":
        return 0
    done = 0
    while True:
        with engine.begin() as connection:
            count = index_pending(connection)
        done += count
        if count < BATCH:
            return done
