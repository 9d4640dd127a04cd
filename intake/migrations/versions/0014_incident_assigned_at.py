"""when an incident was given its assignee (issue 16)

- ``incidents.assigned_at``: the time of the latest assignment; an answer mailed from a
  notification sent before it, by someone else than the assignee, is not relayed (no double
  answers).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch would copy and drop
    # ``incidents``, which other tables' foreign keys refer to.
    op.drop_column("incidents", "assigned_at")
