"""the desk, response targets and alarms (issues 15, 16, 17)

- ``incidents``: ``assignee`` (a staff email), ``version`` (bumped by each answer and
  assignment: a stale answer form is refused), ``draft_by``/``draft_at`` (who is writing an
  answer), ``first_response_due``, ``response_due``, ``first_response_at`` (response targets in
  business hours).
- ``staff_users``: ``away_until``, ``approver``, ``needs_approval``.
- ``canned_answers``: canned answers (定型文) by name and profile.
- ``alarms``: one row per condition operators are told about (``ops_alert``/``ops_resolved``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("assignee", sa.String(320), nullable=True))
        table.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("draft_by", sa.String(320), nullable=True))
        table.add_column(sa.Column("draft_at", _WHEN, nullable=True))
        table.add_column(sa.Column("first_response_due", _WHEN, nullable=True))
        table.add_column(sa.Column("response_due", _WHEN, nullable=True))
        table.add_column(sa.Column("first_response_at", _WHEN, nullable=True))
        table.create_index("ix_incidents_assignee", ["assignee"])
        table.create_index("ix_incidents_response_due", ["response_due"])
    with op.batch_alter_table("staff_users") as table:
        table.add_column(sa.Column("away_until", sa.Date(), nullable=True))
        table.add_column(
            sa.Column("approver", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(
            sa.Column("needs_approval", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "canned_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("profile", sa.String(64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.UniqueConstraint("name", "profile", name="uq_canned_answers_name"),
    )
    op.create_table(
        "alarms",
        sa.Column("condition", sa.String(255), primary_key=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", _WHEN, nullable=True),
        sa.Column("resolved_at", _WHEN, nullable=True),
        sa.Column("alerted_at", _WHEN, nullable=True),
        sa.Column("resolved_mailed_at", _WHEN, nullable=True),
        sa.Column("pending_mail", sa.String(16), nullable=True),
        sa.Column("sending_until", _WHEN, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("alarms")
    op.drop_table("canned_answers")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch would copy and drop ``incidents``
    # and ``staff_users``, which other tables' foreign keys refer to.
    for name in ("needs_approval", "approver", "away_until"):
        op.drop_column("staff_users", name)
    op.drop_index("ix_incidents_response_due", table_name="incidents")
    op.drop_index("ix_incidents_assignee", table_name="incidents")
    for name in (
        "first_response_at",
        "response_due",
        "first_response_due",
        "draft_at",
        "draft_by",
        "version",
        "assignee",
    ):
        op.drop_column("incidents", name)
