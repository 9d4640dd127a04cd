"""The desk on the dashboard through Flask's test client, on real SQLite/PostgreSQL: the 担当
column and the 自分の担当 / 未割当 filters, the assign control, the 返信を作成 claim shown to
another member, and a stale answer refused with its text kept (no double answers)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from werkzeug.security import generate_password_hash

from intake.config import load_config
from intake.models import CannedAnswer, StaffUser
from intake.web import create_app
from tests import test_web_staff as web

SUZUKI = "suzuki@example.jp"


@pytest.fixture
def clock() -> web.Clock:
    return web.Clock(web.OPEN)


@pytest.fixture
def desk(sessions):
    web.furnish(sessions)
    with sessions.begin() as session:
        session.add(
            StaffUser(
                email=SUZUKI,
                name="鈴木 一郎",
                reply_secret="cd" * 32,
                profiles=[],
                password_hash=generate_password_hash(web.PASSWORD, method="scrypt"),
            )
        )
    return sessions


@pytest.fixture
def two(tmp_path, desk, clock):
    """佐藤 and 鈴木, each logged in with their own client on the same dashboard; the config."""
    config = load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})
    app = create_app(config, desk, clock)
    sato, suzuki = app.test_client(), app.test_client()
    assert web.login(sato).status_code == 303
    assert web.login(suzuki, SUZUKI).status_code == 303
    return sato, suzuki, config


def hidden(page, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', page.text).group(1)


def test_desk_list_shows_the_assignee_and_filters_mine_and_unassigned(desk, two) -> None:
    sato, suzuki, config = two
    first, second = (
        web.receive(config, desk, text)[0] for text in ("印刷できません。", "設定不明")
    )
    done = web.post(sato, f"/staff/incidents/{first}/assign", assignee=web.STAFF)
    assert done.status_code == 303
    page = sato.get(f"/staff/incidents/{first}")
    assert re.search(r'<dd id="assignee">佐藤 花子</dd>', page.text)
    assert f'<option value="{SUZUKI}">鈴木 一郎（{SUZUKI}）</option>' in page.text
    listing = sato.get("/staff/")
    assert '<td data-label="担当">佐藤 花子</td>' in listing.text
    assert web.numbers(sato.get("/staff/?assignee=mine")) == [first]
    assert web.numbers(sato.get("/staff/?assignee=none")) == [second]
    assert web.numbers(suzuki.get("/staff/?assignee=mine")) == []
    assert web.post(sato, f"/staff/incidents/{first}/assign", assignee="").status_code == 303
    assert web.numbers(sato.get("/staff/?assignee=none")) == [second, first]
    refused = web.post(sato, f"/staff/incidents/{first}/assign", assignee="nobody@example.jp")
    assert refused.status_code == 400 and "このプロファイルのスタッフから" in refused.text
    assert [(e.actor, e.detail["assignee"]) for e in web.audits(desk, "assign")] == [
        (web.STAFF, web.STAFF),
        (web.STAFF, None),
    ]


def test_desk_draft_claim_is_shown_to_another_member_for_ten_minutes(desk, two, clock) -> None:
    sato, suzuki, config = two
    [number] = web.receive(config, desk, "印刷できません。")
    clock.at = web.OPEN + timedelta(minutes=1)
    assert web.post(sato, f"/staff/incidents/{number}/draft").status_code == 303
    assert [e.actor for e in web.audits(desk, "staff_draft")] == [web.STAFF]
    shown = "佐藤 花子さんが返信を作成中（10:31から）"
    assert shown in suzuki.get(f"/staff/incidents/{number}").text
    own = sato.get(f"/staff/incidents/{number}").text
    assert shown not in own and "あなたが返信を作成中です" in own
    clock.at = web.OPEN + timedelta(minutes=11)
    assert shown not in suzuki.get(f"/staff/incidents/{number}").text


def test_desk_stale_answer_is_refused_with_the_text_kept_and_force_sends(desk, two, clock) -> None:
    sato, suzuki, config = two
    [number] = web.receive(config, desk, "印刷できません。")
    path = f"/staff/incidents/{number}"
    clock.at = web.OPEN + timedelta(minutes=1)
    opened = suzuki.get(path)  # 鈴木 opens the page, then 佐藤 answers first
    form = {"version": hidden(opened, "version"), "opened": hidden(opened, "opened")}
    clock.at = web.OPEN + timedelta(minutes=2)
    assert web.post(sato, f"{path}/answer", text="ドライバを更新してください。").status_code == 303
    clock.at = web.OPEN + timedelta(minutes=3)
    mine = "プリンタの電源を入れ直してください。"
    refused = web.post(suzuki, f"{path}/answer", text=mine, **form)
    assert refused.status_code == 400
    for expected in (
        "佐藤 花子さんが11月24日（火）10:32に回答しました",
        "ドライバを更新",
        "それでも送信する",
    ):
        assert expected in refused.text, expected
    assert f"{mine}</textarea>" in refused.text  # the text kept
    assert len(web.outbox(desk, "answer")) == 1
    again = {"version": hidden(refused, "version"), "opened": hidden(refused, "opened")}
    assert again == form  # the refused page keeps the stale form: sending again is refused again
    assert web.post(suzuki, f"{path}/answer", text=mine, **again).status_code == 400
    forced = web.post(suzuki, f"{path}/answer", text=mine, force="1", **again)
    assert forced.status_code == 303 and len(web.outbox(desk, "answer")) == 2
    fresh = suzuki.get(path)  # a form opened after the answers goes through
    sent = web.post(
        suzuki,
        f"{path}/answer",
        text="追記です。",
        version=hidden(fresh, "version"),
        opened=hidden(fresh, "opened"),
    )
    assert sent.status_code == 303 and len(web.outbox(desk, "answer")) == 3


def test_desk_canned_insert_keeps_the_form_stale_and_a_canned_answer_is_refused(
    desk, two, clock
) -> None:
    """挿入 brings the page back with the version the form was opened with, so an answer filled
    in after someone else answered is refused like any other (no double answers)."""
    sato, suzuki, config = two
    [number] = web.receive(config, desk, "印刷できません。")
    with desk.begin() as session:
        session.add(CannedAnswer(name="ご案内", profile=None, body="{氏名} 様\n\nご案内します。"))
    path = f"/staff/incidents/{number}"
    clock.at = web.OPEN + timedelta(minutes=1)
    opened = suzuki.get(path)
    form = {"version": hidden(opened, "version"), "opened": hidden(opened, "opened")}
    clock.at = web.OPEN + timedelta(minutes=2)
    assert web.post(sato, f"{path}/answer", text="ドライバを更新してください。").status_code == 303
    clock.at = web.OPEN + timedelta(minutes=3)
    filled = web.post(suzuki, f"/staff/canned/{number}", canned="ご案内", text="", **form)
    assert filled.status_code == 200 and "ご案内します。" in filled.text
    assert {"version": hidden(filled, "version"), "opened": hidden(filled, "opened")} == form
    refused = web.post(suzuki, f"{path}/answer", text="#canned ご案内", **form)
    assert (
        refused.status_code == 400
        and "佐藤 花子さんが11月24日（火）10:32に回答しました" in refused.text
    )
    assert len(web.outbox(desk, "answer")) == 1
