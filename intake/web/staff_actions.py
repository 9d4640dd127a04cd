"""What staff do on the incident page: POST forms (CSRF-checked), each one transaction.

Answers, notes, close, split, category, cause and time go through :mod:`intake.answers` — the
code a mailed staff answer runs (R20) — so the rules hold alike: an answer is mailed to the
customer only (R10) and starts the auto-close clock (R18), a close tells the customer (R17), a
split is accepted like an inquiry and consumes one incident (R3, R4). An answer's first lines may
carry the mail commands (``#close``, ``#time 30m`` …), read by the same parser. Merge and the
hold/release of a key mail (R15, R16) are dashboard actions with the same audit (R26).

A refused action changes nothing, shows the page again with the reason and what was typed
(R30), and is audited as ``staff_action_refused``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from intake import targets
from intake.answerfiles import give_files
from intake.answers import act, cancel_auto_close, close
from intake.desk import AssignError, assign, assignable
from intake.labels import OUTBOX_STATE_LABELS, label
from intake.models import Incident, IncidentMessage, OutboxMail, StaffUser
from intake.staffcommands import (
    CATEGORIES,
    CAUSES,
    CommandError,
    StaffAnswer,
    parse_answer,
    reason_ja,
)
from intake.staffcommands import parse_minutes as read_minutes
from intake.states import IncidentFlag, IncidentState, OutboxKind, OutboxState
from intake.web.context import web_context
from intake.web.staff_common import (
    CATEGORY_LABELS,
    CAUSE_LABELS,
    audit,
    audit_view,
    check_profile,
    member,
    now,
)
from intake.web.staff_desk import claim, stale_answer
from intake.web.staff_hold import HOLD_ACTIONS, HoldError
from intake.web.staff_incidents import render_incident
from intake.web.uploads import UploadError, check

MAX_TEXT = 100_000
DONE_LABELS = {
    "answer": "回答を送信しました",
    "note": "内部メモを記録しました",
    "close": "完了にしました（お客様に通知）",
}


class ActionError(Exception):
    """An action that cannot be done; the message is shown to the staff member."""


Work = Callable[[Session, Incident, StaffUser, datetime], str]


def _text(name: str) -> str:
    value = (request.form.get(name) or "").replace("\r\n", "\n").strip("\n")
    if len(value) > MAX_TEXT:
        raise ActionError(f"本文が長すぎます（{MAX_TEXT:,}文字まで）。")
    return value


def _act(session: Session, incident: Incident, staff: StaffUser, answer: StaffAnswer) -> str:
    config = web_context().config
    try:
        done = act(session, config, incident, staff, answer, now())
    except CommandError as exc:
        reason = reason_ja(exc)
        raise ActionError(f"実行できませんでした。何も送信していません（{reason}）") from None
    hold = config.profile(incident.profile).answer_hold_seconds
    return "、".join(_answer_text(hold) if w == "answer" else _done_text(w) for w in done)


def _answer_text(hold: int) -> str:
    """An answer waits ``answer_hold_seconds`` before it goes (intake.answerhold): say so."""
    if hold <= 0:
        return DONE_LABELS["answer"]
    return (
        f"回答を送信待ちにしました（{hold}秒後に送信されます。"
        "それまでは「送信取消」で取り消せます）"
    )


def _done_text(word: str) -> str:
    name, _, value = word.partition(":")
    if name == "split":
        return f"{value} を作成しました（お客様に受付のお知らせ）"
    if name == "time":
        return f"作業時間 {value.removesuffix('m')}分 を追加しました"
    if name == "assign":
        return f"担当者を {value} にしました"
    if name == "category":
        return f"分類を「{CATEGORY_LABELS.get(value, value)}」にしました"
    if name == "cause":
        return f"原因を「{CAUSE_LABELS.get(value, value)}」にしました"
    return DONE_LABELS.get(name, word)


def answer(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    """R20: as a mailed answer — commands on the first lines, then the text for the customer."""
    try:
        parsed = parse_answer(_text("text"))
        give_files(parsed, check(request.files.getlist("files")))  # the web form's limits
    except CommandError as exc:
        reason = reason_ja(exc)
        raise ActionError(f"コマンドを確認してください。何も送信していません（{reason}）") from None
    except UploadError as exc:
        raise ActionError(f"何も送信していません。添付ファイル {exc}") from None
    stale = None if parsed.force else stale_answer(session, incident, staff, request.form)
    if stale and (parsed.text or parsed.canned) and not (parsed.note or parsed.split):
        raise ActionError(stale)  # no double answers (intake.web.staff_desk)
    return _act(session, incident, staff, parsed)


def assign_to(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    """担当者: an active account of the incident's profile, or nobody (as incidents assign)."""
    email = (request.form.get("assignee") or "").strip() or None
    if email is not None:
        try:
            email = assignable(session, incident, email).email
        except AssignError:
            raise ActionError("担当者は、このプロファイルのスタッフから選んでください。") from None
    if not assign(session, incident, email, by=staff.email, now=at):
        return "担当者は変わりません"
    return "担当者を変更しました" if email else "未割当にしました"


def draft(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    audit(session, "staff_draft", f"incident:{incident.id}")
    return claim(incident, staff, at)


def note(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    text = _text("text")
    if not text.strip():
        raise ActionError("メモが空です。")
    return _act(session, incident, staff, StaffAnswer(text=text, note=True))


def split(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    text = _text("text")
    if not text.strip():
        raise ActionError("新しいインシデントの本文を入力してください。")
    return _act(session, incident, staff, StaffAnswer(text=text, split=True))


def close_incident(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    if not close(session, web_context().config, incident, at, by=staff.email):
        raise ActionError("このインシデントは既に完了しています。")
    return DONE_LABELS["close"]


def category(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    value = request.form.get("category", "")
    if value not in CATEGORIES:
        raise ActionError("分類を選んでください。")
    return _act(session, incident, staff, StaffAnswer(text="", category=value))


def cause(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    value = request.form.get("cause", "")
    if value not in CAUSES:
        raise ActionError("原因を選んでください。")
    return _act(session, incident, staff, StaffAnswer(text="", cause=value))


def add_time(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    try:
        minutes = read_minutes(request.form.get("time", "").strip())
    except CommandError:
        raise ActionError(
            "作業時間は 30m、1.5h、1h30m、1時間30分 のように入力してください。"
        ) from None
    return _act(session, incident, staff, StaffAnswer(text="", minutes=minutes))


def merge(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    """R3: this incident was part of another one. Its thread moves there; it is closed as
    merged (no closing mail: the inquiry goes on in the target) and links to the target; its
    support period is released, so it no longer counts against the quota (R4)."""
    raw = (request.form.get("target") or "").strip().lstrip("#＃")
    if not raw.isascii() or not raw.isdigit() or int(raw) > 2**31 - 1:
        raise ActionError("統合先のインシデント番号を入力してください。")
    target = session.get(Incident, int(raw), with_for_update=True)
    if target is None or target.id == incident.id:
        raise ActionError(f"統合先 #{raw} が見つからないか、このインシデント自身です。")
    check_profile(target.profile)
    if IncidentFlag.MERGED in (incident.flags or []):
        raise ActionError(f"既に #{incident.linked_incident_id} に統合されています。")
    if target.state == IncidentState.CLOSED or IncidentFlag.MERGED in (target.flags or []):
        raise ActionError(f"統合先 #{target.id} は完了しています。")
    same_customer = target.customer_id == incident.customer_id and (
        incident.customer_id is not None or target.reply_address == incident.reply_address
    )
    if target.profile != incident.profile or not same_customer:
        raise ActionError("同じプロファイル・同じお客様のインシデントにだけ統合できます。")
    moved = session.execute(
        update(IncidentMessage)
        .where(IncidentMessage.incident_id == incident.id)
        .values(incident_id=target.id)
    ).rowcount
    cancel_auto_close(session, incident, at)
    targets.cleared(session, incident, at)  # response targets: the inquiry goes on in the target
    incident.state = IncidentState.CLOSED
    incident.closed_at = incident.closed_at or at
    incident.close_nonce = None
    incident.linked_incident_id = target.id
    incident.contract_id = None
    incident.flags = [*(incident.flags or []), IncidentFlag.MERGED]
    incident.updated_at = at
    target.updated_at = at
    audit(session, "merge", f"incident:{incident.id}", into=target.id, messages=moved)
    audit(session, "merged_into", f"incident:{target.id}", source=incident.id, messages=moved)
    return f"#{target.id} に統合しました（メッセージ {moved} 件を移動）"


def _key_mail(session: Session, incident: Incident) -> OutboxMail:
    raw = request.form.get("outbox", "")
    mail = None
    if raw.isascii() and raw.isdigit():
        mail = session.scalars(
            select(OutboxMail)
            .where(
                OutboxMail.id == int(raw),
                OutboxMail.incident_id == incident.id,
                OutboxMail.kind == OutboxKind.LICENSE_KEY,
            )
            .with_for_update()
        ).one_or_none()
    if mail is None:
        raise ActionError("このインシデントのライセンスキー送付メールが見つかりません。")
    return mail


def hold(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    """R15/R16: a scheduled key mail is kept from going out (as ``uketsuke outbox hold``);
    the row is locked first, so a mail being sent is found sent, never held after it went."""
    mail = _key_mail(session, incident)
    if mail.state != OutboxState.PENDING:
        state = label(OUTBOX_STATE_LABELS, mail.state)
        raise ActionError(f"送付メール {mail.id} は保留できません（状態: {state}）。")
    mail.state = OutboxState.HELD
    audit(session, "outbox_hold", f"outbox:{mail.id}", incident=incident.id)
    return f"ライセンスキー送付メール {mail.id} を保留しました"


def release(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    mail = _key_mail(session, incident)
    if mail.state != OutboxState.HELD:
        state = label(OUTBOX_STATE_LABELS, mail.state)
        raise ActionError(f"送付メール {mail.id} は保留中ではありません（状態: {state}）。")
    mail.state = OutboxState.PENDING
    audit(session, "outbox_release", f"outbox:{mail.id}", incident=incident.id)
    return f"ライセンスキー送付メール {mail.id} の保留を解除しました（予定時刻に送信）"


ACTIONS: dict[str, Work] = {
    "answer": answer,
    "note": note,
    "close": close_incident,
    "split": split,
    "merge": merge,
    "category": category,
    "cause": cause,
    "time": add_time,
    "hold": hold,
    "release": release,
    "assign": assign_to,
    "draft": draft,
    **HOLD_ACTIONS,  # 送信取消, 承認して送信, 差し戻し
}


def perform(number: int, action: str) -> Any:
    work = ACTIONS.get(action)
    if work is None:
        abort(404)
    try:
        with web_context().sessions.begin() as session:
            incident = session.get(Incident, number)
            if incident is None:
                abort(404)
            check_profile(incident.profile)
            staff = session.get(StaffUser, member().id)
            if staff is None:
                abort(403)
            done = work(session, incident, staff, now())
    except (ActionError, HoldError) as exc:
        audit_view("staff_action_refused", f"incident:{number}", action=action)
        typed = {k: v for k, v in request.form.items() if k != "csrf_token"}
        typed["_action"] = action
        return render_incident(number, error=str(exc), typed=typed, status=400)
    flash(f"#{number}: {done}", "done")
    return redirect(url_for("staff.incident", number=number), 303)
