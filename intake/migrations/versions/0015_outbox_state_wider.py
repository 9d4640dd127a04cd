"""outbox states of the hold and approval fit (issue 16)

- ``outbox.state``: 24 characters instead of 16, so that ``awaiting_approval`` (17; a staff
  answer an approver must pass first) is stored on PostgreSQL too (SQLite never enforced it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.alter_column(
            "state", existing_type=sa.String(16), type_=sa.String(24), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.alter_column(
            "state", existing_type=sa.String(24), type_=sa.String(16), existing_nullable=False
        )
