"""SQLite: new incidents and messages are indexed for search off the intake path

Migration 0008's insert triggers wrote every new incident's and thread message's text into the
FTS5 trigram index inside the processor's transaction: 0.65 ms of CPU a message on the intake
path (bench/intake.md, issue 14). Now they only note the row in ``incident_search_pending``
(one small B-tree insert); ``intake.searchindex.index_pending`` moves the noted rows into the
index, in batches, from the scheduler's ``search-index`` job (which lets stored mail be
processed first, at most 30 s) and before every dashboard search, so a search never misses a
row. The update and delete triggers of 0008 are unchanged (rare: a merge, a subject change);
indexing a noted row replaces whatever the index holds for it, so the order does not matter.

PostgreSQL: nothing (its trigram indexes are maintained by the server).

Beware, as in 0008: a later batch migration that copies ``incidents`` or ``incident_messages``
must create the triggers of this migration again (:data:`PENDING_TRIGGERS`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHABLE = "(NEW.direction <> 'out' OR NEW.author IS NOT NULL)"

PENDING_TRIGGERS = {
    "incident_search_incident_insert": """
        CREATE TRIGGER incident_search_incident_insert AFTER INSERT ON incidents BEGIN
          INSERT INTO incident_search_pending(target) VALUES (-NEW.id);
        END""",
    "incident_search_message_insert": f"""
        CREATE TRIGGER incident_search_message_insert AFTER INSERT ON incident_messages
        WHEN {SEARCHABLE} BEGIN
          INSERT INTO incident_search_pending(target) VALUES (NEW.id);
        END""",
}

# 0008's, for the downgrade.
INDEXING_TRIGGERS = {
    "incident_search_incident_insert": """
        CREATE TRIGGER incident_search_incident_insert AFTER INSERT ON incidents BEGIN
          INSERT INTO incident_search(rowid, body, incident_id)
          VALUES (-NEW.id, NEW.subject || char(10) || NEW.first_line || char(10), NEW.id);
        END""",
    "incident_search_message_insert": f"""
        CREATE TRIGGER incident_search_message_insert AFTER INSERT ON incident_messages
        WHEN {SEARCHABLE} BEGIN
          INSERT INTO incident_search(rowid, body, incident_id)
          VALUES (NEW.id, NEW.body || char(10), NEW.incident_id);
        END""",
}


def _has_search(connection) -> bool:  # noqa: ANN001
    return (
        connection.dialect.name == "sqlite"
        and connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incident_search'"
        ).scalar()
        is not None
    )


def upgrade() -> None:
    connection = op.get_bind()
    if not _has_search(connection):
        return
    connection.exec_driver_sql(
        "CREATE TABLE incident_search_pending (seq INTEGER PRIMARY KEY, target INTEGER NOT NULL)"
    )
    for name, statement in PENDING_TRIGGERS.items():
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        connection.exec_driver_sql(statement)


def downgrade() -> None:
    from intake.searchindex import index_pending

    connection = op.get_bind()
    if not _has_search(connection):
        return
    while index_pending(connection):
        pass
    for name, statement in INDEXING_TRIGGERS.items():
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql("DROP TABLE incident_search_pending")
