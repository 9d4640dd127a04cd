"""The hold before sending through the real daemon: SMTP in, a real SMTP relay (aiosmtpd) out,
as test_life.py. An answer taken back with ``#cancel`` within its hold never reaches the relay;
the next one, left alone, does after its hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from intake import db
from intake.models import OutboxMail
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_daemon import status
from tests.test_life import CUSTOMER, STAFF, relayed_desk, send, sink  # noqa: F401 - the relay fixture

HOLD_SECONDS = 10  # long enough for #cancel to be processed first, short for a test


@pytest.fixture
def desk(tmp_path: Path, database_url: str, sink) -> Iterator[Daemon]:  # noqa: F811
    instance = relayed_desk(tmp_path, database_url, sink[1], HOLD_SECONDS)
    yield instance
    instance.close()


def test_hold_cancel_by_mail_through_the_daemon_never_reaches_the_relay(
    desk: Daemon,
    sink,  # noqa: F811
    database_url: str,
) -> None:
    capture, _ = sink
    desk.start()
    send(desk, CUSTOMER, "support@example.jp", make_mail(FIELDS_BLOCK + "\n印刷できません。\n"))
    notify = capture.wait_for(lambda r, m: r == [STAFF] and "新規インシデント" in m["Subject"])
    reply_to = str(notify["Reply-To"])

    def staff_mail(body: str) -> bytes:
        return make_mail(
            body,
            subject="Re: " + str(notify["Subject"]),
            sender=STAFF,
            to=reply_to,
            headers={"In-Reply-To": str(notify["Message-ID"])},
        )

    send(desk, STAFF, reply_to, staff_mail("山田様\n\n誤った回答です。\n\n佐藤"))
    send(desk, STAFF, reply_to, staff_mail("#cancel"))
    send(desk, STAFF, reply_to, staff_mail("山田様\n\n正しい回答です。\n\n佐藤"))
    # The second answer was queued after the first: once it arrives, the first one's hold is
    # long over, so had it not been cancelled it would have arrived first.
    right = capture.wait_for(lambda r, m: r == [CUSTOMER] and "正しい回答" in m.get_content())
    assert right["In-Reply-To"] is not None
    assert capture.count(lambda r, m: "誤った回答" in m.get_content()) == 0
    assert capture.count(lambda r, m: "回答は送信されていません" in str(m["Subject"])) == 0
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:
        states = session.scalars(
            select(OutboxMail.state).where(OutboxMail.kind == "answer").order_by(OutboxMail.id)
        ).all()
    engine.dispose()
    assert states == ["cancelled", "sent"]
    assert status(desk)["outbox"]["cancelled"] == 1  # `uketsuke status --json` counts it


SENIOR = "kato@example.jp"


def test_approval_by_mail_through_the_daemon_approve_then_return(
    tmp_path: Path,
    database_url: str,
    sink,  # noqa: F811
) -> None:
    capture, port = sink
    desk = relayed_desk(tmp_path, database_url, port, hold_seconds=2)
    try:
        assert desk.cli("staff", "set", STAFF, "--needs-approval").returncode == 0
        assert desk.cli("staff", "add", "加藤 部長", SENIOR, "--approver").returncode == 0
        desk.start()
        send(desk, CUSTOMER, "support@example.jp", make_mail(FIELDS_BLOCK + "\n印刷できません。\n"))
        notify = capture.wait_for(lambda r, m: r == [STAFF] and "新規インシデント" in m["Subject"])

        def reply(to_mail, sender: str, body: str) -> None:
            address = str(to_mail["Reply-To"])
            mail = make_mail(
                body,
                subject="Re: " + str(to_mail["Subject"]),
                sender=sender,
                to=address,
                headers={"In-Reply-To": str(to_mail["Message-ID"])},
            )
            send(desk, sender, address, mail)

        reply(notify, STAFF, "山田様\n\n一つ目の回答です。")
        request = capture.wait_for(lambda r, m: r == [SENIOR] and "承認依頼" in m["Subject"])
        assert "一つ目の回答です。" in request.get_content()
        assert status(desk)["outbox"]["awaiting_approval"] == 1  # the answer, not yet passed
        reply(request, SENIOR, "#approve")
        capture.wait_for(lambda r, m: r == [CUSTOMER] and "一つ目の回答" in m.get_content())

        reply(notify, STAFF, "山田様\n\n二つ目の回答です。")
        second = capture.wait_for(
            lambda r, m: r == [SENIOR] and "二つ目の回答です。" in m.get_content()
        )
        reply(second, SENIOR, "#return 手順が古いです。")
        returned = capture.wait_for(
            lambda r, m: r == [STAFF] and "差し戻されました" in m["Subject"]
        )
        assert "手順が古いです。" in returned.get_content()
        assert (
            capture.count(lambda r, m: "二つ目の回答" in m.get_content() and r == [CUSTOMER]) == 0
        )
    finally:
        desk.close()
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:
        states = session.scalars(
            select(OutboxMail.state).where(OutboxMail.kind == "answer").order_by(OutboxMail.id)
        ).all()
    engine.dispose()
    assert states == ["sent", "cancelled"]
