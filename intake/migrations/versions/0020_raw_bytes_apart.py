"""raw message bytes in a table of their own, written once

A raw row changes state twice after the door stored it (its attempt counted, then processed);
on SQLite a row whose size changes is written out whole, overflow pages included, so each
message's bytes were written to the WAL (and checkpointed) again at each change: most of what the
processor wrote. In ``raw_bytes`` they are written once by the door and only read afterwards;
a purge (R26) deletes the row. PostgreSQL keeps them out of line without compression, as
migration 0003 did for the old column.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "raw_bytes",
        sa.Column("raw_message_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["raw_message_id"],
            ["raw_messages.id"],
            name=op.f("fk_raw_bytes_raw_message_id_raw_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("raw_message_id", name=op.f("pk_raw_bytes")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE raw_bytes ALTER COLUMN data SET STORAGE EXTERNAL")
    op.execute(
        "INSERT INTO raw_bytes (raw_message_id, data)"
        " SELECT id, data FROM raw_messages WHERE data IS NOT NULL"
    )
    # Not a batch (copy, drop, rename) on SQLite: dropping the old raw_messages there deletes
    # its rows first, which the rows referring to them (and this table's cascade) forbid or
    # follow. SQLite 3.35 and later drop a column in place.
    op.drop_column("raw_messages", "data")


def downgrade() -> None:
    op.add_column("raw_messages", sa.Column("data", sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE raw_messages ALTER COLUMN data SET STORAGE EXTERNAL")
    op.execute(
        "UPDATE raw_messages SET data ="
        " (SELECT data FROM raw_bytes WHERE raw_bytes.raw_message_id = raw_messages.id)"
    )
    op.drop_table("raw_bytes")
