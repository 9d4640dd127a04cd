"""incident text search for the staff dashboard (issue 11, R26)

Japanese is written without spaces, so a word-based full-text index finds nothing useful: the
dashboard's text search is a substring search (印刷 finds 印刷できません) over an incident's subject,
first line and the bodies of its thread. Both engines index substrings by trigrams; neither needs a
search server.

- SQLite: an FTS5 table ``incident_search`` with the ``trigram`` tokenizer (SQLite >= 3.34), one
  row per incident (rowid ``-id``: subject and first line) and one per searchable thread message
  (rowid = the message's id), kept in step by triggers on ``incidents`` and
  ``incident_messages`` and filled here from what is there. Each text is indexed with a newline
  after it, so that every occurrence of a two-character term starts a trigram (``印刷`` at the
  very end is in ``印刷\n``): a term of 3 or more characters is a phrase query, a 2-character
  one the trigrams it starts, found in the vocabulary table ``incident_search_vocab``
  (fts5vocab). Single characters are found with ``LIKE``.
- PostgreSQL: ``pg_trgm`` GIN indexes on ``incidents.subject``, ``incidents.first_line`` and
  ``incident_messages.body``, used by ``ILIKE '%term%'`` for terms of 3 or more characters. The
  extension is created when the role may (``CREATE EXTENSION IF NOT EXISTS pg_trgm``); without
  it the indexes are skipped and search stays correct, only slower.

A thread message is searchable unless it is a placeholder for a mail the system sent (direction
``out`` and no author: "(受付のお知らせ)" on every incident would match every search).

None of this can be said in ``intake.models`` (a virtual table, triggers, operator classes), so
the comparison of migrations with the models must leave these objects out: tables named
``incident_search`` / ``incident_search_*`` and indexes named ``*_trgm``.

Beware on SQLite: a later batch migration that copies ``incidents`` or ``incident_messages``
(``batch_alter_table`` recreates the table) drops their triggers; such a migration must create
them again (:func:`create_sqlite_search`'s trigger statements).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00
"""

import contextlib
from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHABLE = "(NEW.direction <> 'out' OR NEW.author IS NOT NULL)"
INCIDENT_TEXT = "NEW.subject || char(10) || NEW.first_line || char(10)"
MESSAGE_TEXT = "NEW.body || char(10)"

SQLITE_TRIGGERS = {
    "incident_search_incident_insert": f"""
        CREATE TRIGGER incident_search_incident_insert AFTER INSERT ON incidents BEGIN
          INSERT INTO incident_search(rowid, body, incident_id)
          VALUES (-NEW.id, {INCIDENT_TEXT}, NEW.id);
        END""",
    "incident_search_incident_update": f"""
        CREATE TRIGGER incident_search_incident_update
        AFTER UPDATE OF subject, first_line ON incidents BEGIN
          DELETE FROM incident_search WHERE rowid = -OLD.id;
          INSERT INTO incident_search(rowid, body, incident_id)
          VALUES (-NEW.id, {INCIDENT_TEXT}, NEW.id);
        END""",
    "incident_search_incident_delete": """
        CREATE TRIGGER incident_search_incident_delete AFTER DELETE ON incidents BEGIN
          DELETE FROM incident_search WHERE rowid = -OLD.id;
        END""",
    "incident_search_message_insert": f"""
        CREATE TRIGGER incident_search_message_insert AFTER INSERT ON incident_messages
        WHEN {SEARCHABLE} BEGIN
          INSERT INTO incident_search(rowid, body, incident_id)
          VALUES (NEW.id, {MESSAGE_TEXT}, NEW.incident_id);
        END""",
    # A merge moves messages to another incident: the row follows its message.
    "incident_search_message_update": f"""
        CREATE TRIGGER incident_search_message_update
        AFTER UPDATE OF body, incident_id, direction, author ON incident_messages BEGIN
          DELETE FROM incident_search WHERE rowid = OLD.id;
          INSERT INTO incident_search(rowid, body, incident_id)
          SELECT NEW.id, {MESSAGE_TEXT}, NEW.incident_id WHERE {SEARCHABLE};
        END""",
    "incident_search_message_delete": """
        CREATE TRIGGER incident_search_message_delete AFTER DELETE ON incident_messages BEGIN
          DELETE FROM incident_search WHERE rowid = OLD.id;
        END""",
}

PG_INDEXES = {
    "ix_incidents_subject_trgm": ("incidents", "subject", ""),
    "ix_incidents_first_line_trgm": ("incidents", "first_line", ""),
    "ix_incident_messages_body_trgm": (
        "incident_messages",
        "body",
        " WHERE (direction <> 'out' OR author IS NOT NULL)",
    ),
}


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        create_sqlite_search(connection)
    elif connection.dialect.name == "postgresql":
        create_pg_trgm_indexes(connection)


def create_sqlite_search(connection: Connection) -> None:
    """The FTS5 table, filled, and its triggers; nothing when this SQLite lacks FTS5 or its
    trigram tokenizer (before 3.34): the dashboard then searches with LIKE alone."""
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(
                "CREATE VIRTUAL TABLE incident_search USING fts5("
                "body, incident_id UNINDEXED, tokenize = 'trigram')"
            )
    except DBAPIError:
        return
    connection.exec_driver_sql(
        "CREATE VIRTUAL TABLE incident_search_vocab USING fts5vocab(incident_search, 'row')"
    )
    connection.exec_driver_sql(
        "INSERT INTO incident_search(rowid, body, incident_id) "
        "SELECT -id, subject || char(10) || first_line || char(10), id FROM incidents"
    )
    connection.exec_driver_sql(
        "INSERT INTO incident_search(rowid, body, incident_id) "
        "SELECT id, body || char(10), incident_id FROM incident_messages "
        "WHERE direction <> 'out' OR author IS NOT NULL"
    )
    for statement in SQLITE_TRIGGERS.values():
        connection.exec_driver_sql(statement)


def create_pg_trgm_indexes(connection: Connection) -> None:
    """The trigram indexes, qualified with the extension's schema (it may lie outside the
    search path, as with one schema per test on a shared database)."""
    # No privilege or no contrib package: no indexes, and search is correct but unindexed.
    with contextlib.suppress(DBAPIError), connection.begin_nested():
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema = connection.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    ).scalar()
    if schema is None:
        return
    opclass = f'"{schema}".gin_trgm_ops'
    for name, (table, column, where) in PG_INDEXES.items():
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} {opclass}){where}"
        )


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        connection.exec_driver_sql("DROP TABLE IF EXISTS incident_search_vocab")
        connection.exec_driver_sql("DROP TABLE IF EXISTS incident_search")
    elif connection.dialect.name == "postgresql":
        for name in PG_INDEXES:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
