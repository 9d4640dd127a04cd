"""dashboard sessions can be ended on the server (issue 15)

- ``staff_users.session_generation``: kept in each session's MAC; logout and ``staff passwd``
  bump it, which ends every session of the account, a copied cookie's too (R26).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as table:
        table.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as table:
        table.drop_column("session_generation")
