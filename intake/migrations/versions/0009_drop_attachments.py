"""drop the unused attachments table

``attachments`` (file name, type and size per raw message) was created by 0001 and never
written or read: the attachments of stored mail are listed from the raw message itself
(``intake.web.staff_files``, ``uketsuke parse``), so the table was always empty.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_attachments_raw_message_id", table_name="attachments")
    op.drop_table("attachments")


def downgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw_message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=1024), nullable=True),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["raw_message_id"],
            ["raw_messages.id"],
            name=op.f("fk_attachments_raw_message_id_raw_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(
        op.f("ix_attachments_raw_message_id"), "attachments", ["raw_message_id"], unique=False
    )
