"""timed actions found by their incident or inquiry through an index

A customer's follow-up cancels its incident's pending auto-close timer (R18), and an answer or a
close settles its response-target timers: each looked the timer up through the (state, due_at)
index, that is among every pending timer of every incident. With a timer per open incident that
grew with the desk (15 % of the processor's time on a backlog of 4,000 messages). Indexes on
(incident_id, kind) and (inquiry_id) make each a look-up of the incident's own few rows.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_timed_actions_incident", "timed_actions", ["incident_id", "kind"])
    op.create_index("ix_timed_actions_inquiry", "timed_actions", ["inquiry_id"])


def downgrade() -> None:
    op.drop_index("ix_timed_actions_inquiry", table_name="timed_actions")
    op.drop_index("ix_timed_actions_incident", table_name="timed_actions")
