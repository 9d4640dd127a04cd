"""completed held inquiries' expiry timers cancelled

The old code left the ``held_expiry`` timer of a held inquiry ``pending`` when the customer's
reply (or ``held complete``) completed it: ``timers list`` showed it pending, and at its due time
the expiry job counted it as expired. Timers whose inquiry is no longer held become
``cancelled`` (their time of cancelling is not known: ``done_at`` stays empty).

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-05 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPAIR = sa.text(
    "UPDATE timed_actions SET state = 'cancelled'"
    " WHERE kind = 'held_expiry' AND state = 'pending' AND inquiry_id IN"
    " (SELECT id FROM inquiries WHERE state <> 'held')"
)


def upgrade() -> None:
    op.get_bind().execute(_REPAIR)


def downgrade() -> None:
    pass  # the repaired rows stay cancelled: they never were to run
