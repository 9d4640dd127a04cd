"""The desk through the real daemon, by email only: two staff members answer the same new
incident from their mail clients over SMTP; the first answer reaches the customer and takes the
incident, the second is not relayed and its author gets a ``staff_collision`` mail; ``#force``
sends it; the customer's follow-up is then mailed to the assignee only. Outgoing mail goes
through ``transport = "smtp"`` into a real aiosmtpd relay sink."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from intake import db
from intake.models import OutboxMail
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_life import Sink, send, sink  # noqa: F401 - the relay fixture

CUSTOMER = "yamada@example.co.jp"
SATO, SUZUKI = "sato@example.jp", "suzuki@example.jp"


@pytest.fixture
def desk(tmp_path: Path, database_url: str, sink: tuple[Sink, int]) -> Iterator[Daemon]:  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    config = home / "uketsuke.toml"
    config.write_text(
        '[outbox]\ntransport = "smtp"\nrelay_host = "127.0.0.1"\n'
        f"relay_port = {sink[1]}\nrelay_starttls = false\n"
        "[profiles.helpdesk]\nanswer_hold_seconds = 2\n",  # the hold before sending, short
        encoding="utf-8",
    )
    instance = Daemon(home, database_url, config=config)
    for command in (
        ("migrate",),
        ("staff", "add", "佐藤 花子", SATO),
        ("staff", "add", "鈴木 一郎", SUZUKI),
    ):
        assert instance.cli(*command).returncode == 0
    instance.start()
    yield instance
    instance.terminate()
    instance.close()


def _reply(notify: EmailMessage, sender: str, body: str) -> tuple[str, bytes]:
    """A staff member's reply from a mail client: to the Reply-To, quoting the notification."""
    quoted = "\n".join("> " + line for line in notify.get_content().splitlines())
    reply_to = str(notify["Reply-To"])
    return reply_to, make_mail(
        f"{body}\n\n{sender} wrote:\n{quoted}\n",
        subject="Re: " + str(notify["Subject"]),
        sender=sender,
        to=reply_to,
        headers={"In-Reply-To": str(notify["Message-ID"])},
    )


def test_collision_two_staff_answer_one_notice_through_the_daemon(
    desk: Daemon,
    sink: tuple[Sink, int],  # noqa: F811
    database_url: str,
) -> None:
    capture, _ = sink
    send(desk, CUSTOMER, "support@example.jp", make_mail(FIELDS_BLOCK + "\n印刷できません。\n"))
    ack = capture.wait_for(lambda r, m: r == [CUSTOMER] and "受け付けました" in m["Subject"])
    tag = str(ack["Subject"]).split("]")[0] + "]"
    notices = {
        who: capture.wait_for(lambda r, m, who=who: r == [who] and tag in str(m["Subject"]))
        for who in (SATO, SUZUKI)
    }
    assert "未割当" in notices[SATO].get_content()

    def to_customer(text: str) -> int:
        return capture.count(lambda r, m: r == [CUSTOMER] and text in m.get_content())

    send(desk, SATO, *_reply(notices[SATO], SATO, "山田様\n\n再起動してください。\n佐藤"))
    capture.wait_for(lambda r, m: r == [CUSTOMER] and "再起動してください" in m.get_content())
    send(desk, SUZUKI, *_reply(notices[SUZUKI], SUZUKI, "山田様\n\nドライバを更新してください。"))
    collision = capture.wait_for(lambda r, m: r == [SUZUKI] and "先に回答しました" in m["Subject"])
    text = collision.get_content()
    assert "佐藤 花子さん" in text and "再起動してください" in text and "#force" in text
    assert to_customer("ドライバを更新") == 0

    send(desk, SUZUKI, *_reply(notices[SUZUKI], SUZUKI, "#force\n山田様\n\nドライバも更新を。"))
    capture.wait_for(lambda r, m: r == [CUSTOMER] and "ドライバも更新を" in m.get_content())

    follow = make_mail("まだ印刷できません。", subject=f"Re: {tag} お問い合わせ")
    send(desk, CUSTOMER, "support@example.jp", follow)
    told = capture.wait_for(lambda r, m: "お客様からの返信" in str(m["Subject"]))
    assert "佐藤 花子さん" in told.get_content()  # 担当 in the notice
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:  # every notice decided, sent or not
        notices_to = session.scalars(
            select(OutboxMail.recipients)
            .where(OutboxMail.kind == "staff_notify")
            .order_by(OutboxMail.id)
        ).all()
    engine.dispose()
    assert sorted(notices_to[:2]) == [[SATO], [SUZUKI]] and notices_to[2:] == [[SATO]]
