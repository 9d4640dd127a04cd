"""Due rows the scheduler ticks: held-inquiry expiry (R2) — each a row with a due time (R16).

A job claims one due row per transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so a
restart, a crash or a second instance neither loses nor repeats work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.models import Inquiry, RawMessage, TimedAction
from responder.acks import queue_held_expired
from responder.queue import Thread

log = logging.getLogger("uketsuke.jobs")


def due_actions(sessions: sessionmaker[Session], kind: str, now: datetime) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(TimedAction.id)
                .where(
                    TimedAction.kind == kind,
                    TimedAction.state == "pending",
                    TimedAction.due_at <= now,
                )
                .order_by(TimedAction.due_at)
                .limit(200)
            )
        )


def claimed(
    sessions: sessionmaker[Session], kind: str, now: datetime
) -> Iterator[tuple[Session, TimedAction]]:
    """Each due pending row of ``kind``, claimed in its own transaction (SKIP LOCKED: another
    instance never gets the same row); the caller's work commits with it."""
    for action_id in due_actions(sessions, kind, now):
        with sessions.begin() as session:
            action = session.scalars(
                select(TimedAction)
                .where(TimedAction.id == action_id, TimedAction.state == "pending")
                .with_for_update(skip_locked=True)
            ).one_or_none()
            if action is not None:
                yield session, action


def expire_held(sessions: sessionmaker[Session], config: Config, now: datetime) -> int:
    """R2: a held inquiry expires after ``held_expiry_days`` with a notice; it consumed nothing.
    Returns how many expired: the timer of an inquiry no longer held (completed or discarded
    before its timer was cancelled) is cancelled, not counted."""
    done = 0
    for session, action in claimed(sessions, "held_expiry", now):
        inquiry = session.get(Inquiry, action.inquiry_id) if action.inquiry_id else None
        if inquiry is not None and inquiry.state == "held":
            inquiry.state = "expired"
            inquiry.resolved_at = now
            raw = session.get(RawMessage, inquiry.raw_message_id)
            if inquiry.sender and inquiry.reason != "needs_transcription":
                queue_held_expired(
                    session,
                    config,
                    inquiry.profile,
                    to=[inquiry.sender],
                    received_at=raw.received_at if raw else inquiry.created_at,
                    now=now,
                    thread=Thread(
                        inquiry.request_message_id,
                        [
                            m
                            for m in [
                                raw.message_id if raw else None,
                                inquiry.request_message_id,
                            ]
                            if m
                        ],
                    ),
                )
            action.state = "done"
            done += 1
        else:
            action.state = "cancelled"
        action.done_at = now
    if done:
        log.info("expired %s held inquiries", done)
    return done
