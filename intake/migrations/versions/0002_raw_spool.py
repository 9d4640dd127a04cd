"""raw messages over the spool threshold are kept in spool files

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("raw_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spool", sa.String(length=128), nullable=True))
        batch_op.alter_column("data", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    # Spooled messages cannot go back into rows without their files: refuse if any exist.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM raw_messages WHERE spool IS NOT NULL")).scalar():
        raise RuntimeError("raw messages are kept in spool files; cannot downgrade below 0002")
    with op.batch_alter_table("raw_messages", schema=None) as batch_op:
        batch_op.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("spool")
