"""staff answers, license keys, retention

- ``outbox.payload``: what a mail needs when it is sent rather than when it is queued (the
  license-key request handed to the issuer at send time, R14–R16).
- ``raw_messages.purged_at``: the raw bytes of a closed incident were removed after
  ``keep_raw_mail_days`` (R26).
- ``incidents.close_nonce``: the one-click close link of the latest answer (R17); a new answer
  or a close makes older links void.
- indexes on ``incident_messages.raw_message_id`` and ``inquiries.raw_message_id``: the retention
  job finds a raw message's incidents through them (R26).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.add_column(sa.Column("payload", sa.JSON(), nullable=True))
    with op.batch_alter_table("raw_messages") as table:
        table.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("close_nonce", sa.String(length=64), nullable=True))
    op.create_index("ix_incident_messages_raw_message_id", "incident_messages", ["raw_message_id"])
    op.create_index("ix_inquiries_raw_message_id", "inquiries", ["raw_message_id"])


def downgrade() -> None:
    op.drop_index("ix_inquiries_raw_message_id", table_name="inquiries")
    op.drop_index("ix_incident_messages_raw_message_id", table_name="incident_messages")
    with op.batch_alter_table("incidents") as table:
        table.drop_column("close_nonce")
    with op.batch_alter_table("raw_messages") as table:
        table.drop_column("purged_at")
    with op.batch_alter_table("outbox") as table:
        table.drop_column("payload")
