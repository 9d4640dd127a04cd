"""files staff attach on the dashboard to an answer or a note (issue 16)

- ``answer_files``: one row per file, with its bytes, linked to its ``incident_messages`` row.
  A mailed answer's files are not copied here: they stay in its stored mail.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "message_id",
            sa.Integer(),
            sa.ForeignKey(
                "incident_messages.id",
                ondelete="CASCADE",
                name="fk_answer_files_message_id_incident_messages",
            ),
            nullable=False,
        ),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_answer_files_message_id", "answer_files", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_answer_files_message_id", table_name="answer_files")
    op.drop_table("answer_files")
