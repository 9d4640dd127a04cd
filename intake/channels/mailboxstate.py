"""Where an IMAP poller stands in its mailbox, and who may poll it (``mailbox_state``).

The lease (docs/architecture.md, "Processes and threads") lets one instance poll a mailbox:
taken or renewed with one conditional UPDATE, so two instances racing for it cannot both win;
given up on shutdown.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake.models import MailboxState, utcnow

LEASE = timedelta(minutes=2)


def default_owner() -> str:
    """The lease owner of this process: ``hostname:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class MailboxLease:
    """One mailbox's row in ``mailbox_state``, as seen by the instance ``owner``."""

    def __init__(self, sessions: sessionmaker[Session], name: str, owner: str) -> None:
        self.sessions = sessions
        self.name = name
        self.owner = owner

    def take(self) -> bool:
        """Take or renew this mailbox's lease for 2 minutes; False when another owner holds it.

        One conditional UPDATE, so two instances racing for it cannot both win.
        """
        now = utcnow()
        with self.sessions() as session:
            if session.get(MailboxState, self.name) is None:
                session.add(MailboxState(name=self.name, last_uid=0))
                try:
                    session.commit()
                except IntegrityError:  # another instance created the row first
                    session.rollback()
            result = session.execute(
                update(MailboxState)
                .where(
                    MailboxState.name == self.name,
                    or_(
                        MailboxState.lease_owner.is_(None),
                        MailboxState.lease_owner == self.owner,
                        MailboxState.lease_expires.is_(None),
                        MailboxState.lease_expires < now,
                    ),
                )
                .values(lease_owner=self.owner, lease_expires=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    def release(self) -> None:
        """Give the lease up at once (on shutdown), so another instance need not wait it out."""
        with self.sessions() as session:
            session.execute(
                update(MailboxState)
                .where(MailboxState.name == self.name, MailboxState.lease_owner == self.owner)
                .values(lease_owner=None, lease_expires=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()

    def position(self) -> tuple[int | None, int]:
        """(UIDVALIDITY, last UID stored) of the last poll; (None, 0) before the first."""
        with self.sessions() as session:
            state = session.get(MailboxState, self.name)
            if state is None:
                return None, 0
            return state.uidvalidity, int(state.last_uid or 0)

    def save_position(self, uidvalidity: int, last_uid: int) -> bool:
        """Record progress and renew the lease; False when the lease went to someone else."""
        with self.sessions() as session:
            result = session.execute(
                update(MailboxState)
                .where(
                    MailboxState.name == self.name,
                    MailboxState.lease_owner == self.owner,
                )
                .values(
                    uidvalidity=uidvalidity,
                    last_uid=last_uid,
                    lease_expires=utcnow() + LEASE,
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    def succeeded(self) -> None:
        """A poll (or a stretch of IDLE) worked: what ``uketsuke health`` reads."""
        with self.sessions() as session:
            session.execute(
                update(MailboxState)
                .where(MailboxState.name == self.name)
                .values(last_success_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            session.commit()
