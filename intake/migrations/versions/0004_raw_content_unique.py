"""one row per Message-ID + content + profile, enforced by the database

The store looked for an earlier copy before inserting; two doors storing the same mail at the
same instant (the SMTP and the IMAP copy, on PostgreSQL) could both miss the other. A unique
index makes the second insert fail, and the store then returns the first row. The index leads
with content_hash, so the single-column index on it goes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUPLICATES = sa.text(
    "SELECT count(*) FROM (SELECT 1 FROM raw_messages WHERE message_id IS NOT NULL"
    " AND profile IS NOT NULL GROUP BY content_hash, message_id, profile"
    " HAVING count(*) > 1) AS twice"
)


def upgrade() -> None:
    twice = op.get_bind().execute(_DUPLICATES).scalar()
    if twice:
        raise RuntimeError(
            f"{twice} raw message(s) are stored more than once (same Message-ID, content and "
            "profile); resolve them before upgrading to 0004"
        )
    op.create_index(
        "uq_raw_messages_content",
        "raw_messages",
        ["content_hash", "message_id", "profile"],
        unique=True,
    )
    op.drop_index("ix_raw_messages_content_hash", table_name="raw_messages")


def downgrade() -> None:
    op.create_index("ix_raw_messages_content_hash", "raw_messages", ["content_hash"])
    op.drop_index("uq_raw_messages_content", table_name="raw_messages")
