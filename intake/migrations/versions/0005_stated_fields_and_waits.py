"""stated fields on incidents; replies that wait; completed held inquiries' mail processed

- ``incidents.fields``: the four fields as stated (R1) and a fax's number (R11).
- ``raw_messages.not_before``: a reply naming a message not yet processed waits (R19).
- Rows the old code left ``held`` although their inquiry was accepted become ``processed``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPAIR = sa.text(
    "UPDATE raw_messages SET state = 'processed', last_error = NULL"
    " WHERE state = 'held' AND id IN"
    " (SELECT raw_message_id FROM inquiries"
    "  WHERE state = 'accepted' AND raw_message_id IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("fields", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("raw_messages") as table:
        table.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.get_bind().execute(_REPAIR)


def downgrade() -> None:
    with op.batch_alter_table("raw_messages") as table:
        table.drop_column("not_before")
    with op.batch_alter_table("incidents") as table:
        table.drop_column("fields")
