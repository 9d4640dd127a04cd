"""Staff answering from their mail clients (R20, R21).

A mail claims to be staff when it is written to a tokened reply address (``support+TOKEN@…``),
or comes from a staff account or a configured staff address. It is trusted only when it comes
from that staff member's address and either its token verifies for that member and incident, or
(for the domains in ``staff.dkim_domains``) its DKIM signature verifies. A trusted answer is
acted on (``intake.answers``); anything else that claims to be staff — a forged From, a bad or
foreign token, a staff address writing to the plain intake address — is held and reported to the
profile's staff, never relayed and never acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import getaddresses

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake import incidents as inc
from intake.answerfiles import attach_mailed_files
from intake.answers import act
from intake.audit import audit
from intake.deskmail import desk_command, run_desk_command
from intake.dkimcheck import verified_domain
from intake.incidenttag import incident_tag
from intake.labels import CATEGORY_LABELS
from intake.models import Incident, StaffUser
from intake.outcomes import Held, Processed
from intake.replykey import reply_key
from intake.spool import read_raw
from intake.staffcommands import CommandError, parse_answer, reason_ja
from intake.stafftoken import ReplyToken, base_address, expired, token_in, verifies
from intake.states import OutboxKind
from intake.steps.context import Context
from intake.steps.staffcollision import check_collision, mail_member
from responder.staffnotify import REPLY_MARKER_TEXT, alert_staff
from scheduler.calendar import to_tokyo


@dataclass
class Claim:
    tokens: list[ReplyToken]
    sender: str
    account: StaffUser | None


# Why a claim was refused: English for the log, the held row and the audit; Japanese for staff.
TOKEN_BAD = "the reply address's token does not verify"
TOKEN_EXPIRED = "the reply address's token has expired"
TOKEN_OTHER_SENDER = "the sender is not the staff member the token was made for"
TOKEN_OTHER_ENVELOPE = (
    "the envelope sender (MAIL FROM) is not the staff member the token was made for"
)
TOKEN_NO_INCIDENT = "the token names no incident"
OTHER_PROFILE = "the staff member does not work for the incident's profile"
SEVERAL_FROM = "the From header names more than one mailbox"
NO_ACCOUNT = "a staff address without an active staff account"
DKIM_NO_INCIDENT = "DKIM verified, but the mail names no incident"
DKIM_BAD = "DKIM does not verify for the staff domain"
NO_TOKEN = "no reply token (answer by replying to the staff notification)"
REASONS_JA = {
    TOKEN_BAD: (
        "返信先アドレスのトークンを確認できませんでした（改ざんされたか、別のアカウント用です）。"
    ),
    TOKEN_EXPIRED: (
        "返信先アドレスの有効期限（通知から{days}日間）が切れています。"
        "新しい通知メールに返信するか、ダッシュボードから回答してください。"
    ),
    TOKEN_OTHER_SENDER: "差出人（From）が、返信先アドレスの発行先のスタッフではありません。",
    TOKEN_OTHER_ENVELOPE: (
        "エンベロープの送信者（MAIL FROM）が、返信先アドレスの発行先のスタッフではありません。"
    ),
    TOKEN_NO_INCIDENT: "返信先アドレスが指すインシデントが見つかりません。",
    OTHER_PROFILE: "このスタッフは、このインシデントのプロファイルを担当していません。",
    SEVERAL_FROM: "差出人（From）に複数のアドレスが書かれています。",
    NO_ACCOUNT: "有効なスタッフアカウントのないスタッフアドレスから届きました。",
    DKIM_NO_INCIDENT: "DKIM 署名は確認できましたが、どのインシデントへの回答かわかりません。",
    DKIM_BAD: "スタッフのドメインの DKIM 署名を確認できませんでした。",
    NO_TOKEN: "返信用のアドレスではありません（スタッフ通知メールに返信して回答してください）。",
}


def staff_addresses(session: Session) -> frozenset[str]:
    """Every staff account's address, lower-case: asked once a batch, so a customer's mail costs
    no look-up here."""
    return frozenset(a.lower() for a in session.scalars(select(StaffUser.email)))


def staff(ctx: Context) -> None:
    claim = _claim(ctx)
    if claim is None:
        return
    staff_member, incident, why = _authenticate(ctx, claim)
    if staff_member is None or incident is None:
        _refuse(ctx, claim, incident, why)
    assert staff_member is not None and incident is not None
    answer_text = ctx.message.body
    _desk_command(ctx, staff_member, incident)  # #cancel, #approve, #return
    try:
        answer = parse_answer(answer_text, REPLY_MARKER_TEXT)
        attach_mailed_files(answer, _raw_bytes(ctx))
        check_collision(ctx, staff_member, incident, answer)  # no double answers
        done = act(
            ctx.session,
            ctx.config,
            incident,
            staff_member,
            answer,
            ctx.now,
            message_id=ctx.message.message_id,
            raw_message_id=ctx.raw.id,
        )
    except CommandError as exc:
        _tell_staff(ctx, staff_member, incident, reason_ja(exc))
        raise Processed(f"staff answer to #{incident.id} not acted on: {exc}") from None
    raise Processed(f"staff answer to #{incident.id}: {', '.join(done)}")


def _desk_command(ctx: Context, member: StaffUser, incident: Incident) -> None:
    """The hold and approval commands (``intake.deskmail``): carried out, or refused with a
    ``staff_error`` mail; either way the mail is done with."""
    command = desk_command(ctx.message.body, REPLY_MARKER_TEXT)
    if command is None:
        return
    result = run_desk_command(ctx.session, ctx.config, incident, member, command, ctx.now)
    if result.error is not None:
        _tell_staff(ctx, member, incident, result.error, command=f"#{command[0]}")
    raise Processed(f"staff command on #{incident.id}: {result.done}")


def _claim(ctx: Context) -> Claim | None:
    """What makes this mail claim to be staff, or None for a customer's mail."""
    addresses = [*(ctx.raw.envelope_to or []), *ctx.message.to]
    tokens = [
        token
        for address in dict.fromkeys(a.lower() for a in addresses)
        if (token := token_in(address)) is not None
        and ctx.config.profile_for_address(base_address(address)) is not None
    ]
    sender = (ctx.message.from_address or "").lower()
    account = (
        ctx.session.scalars(
            select(StaffUser).where(func.lower(StaffUser.email) == sender)
        ).one_or_none()
        if sender and sender in ctx.staff
        else None
    )
    configured = any(
        sender in (a.lower() for a in p.staff_addresses) for p in ctx.config.profiles.values()
    )
    if not tokens and account is None and not configured and ctx.message.kind != "staff_reply":
        return None
    return Claim(tokens, sender, account)


def _authenticate(ctx: Context, claim: Claim) -> tuple[StaffUser | None, Incident | None, str]:
    """(staff member, incident, "") when trusted; else (None, the incident if known, why)."""
    if _from_mailboxes(ctx) > 1:  # whose mail is it? never staff
        first = claim.tokens[0].incident_id if claim.tokens else None
        incident = ctx.session.get(Incident, first) if first else _tagged_incident(ctx)
        return None, incident, SEVERAL_FROM
    key = reply_key(ctx.config) if claim.tokens else ""
    for token in claim.tokens:
        member = ctx.session.get(StaffUser, token.staff_id)
        incident = ctx.session.get(Incident, token.incident_id)
        if token.issued is None:  # the old form, without its day: refused as expired
            return None, incident, TOKEN_EXPIRED
        if (
            member is None
            or not member.active
            or not verifies(token, key, member.reply_secret, member.email)
        ):
            return None, incident, TOKEN_BAD
        if member.email.lower() != claim.sender:
            return None, incident, TOKEN_OTHER_SENDER
        if member.email.lower() != _envelope_sender(ctx):
            return None, incident, TOKEN_OTHER_ENVELOPE
        if expired(token, to_tokyo(ctx.now).date(), ctx.config.staff.token_days):
            return None, incident, TOKEN_EXPIRED
        if incident is None:
            return None, None, TOKEN_NO_INCIDENT
        if member.profiles and incident.profile not in member.profiles:
            return None, incident, OTHER_PROFILE
        return member, incident, ""
    incident = _tagged_incident(ctx)
    if claim.account is None or not claim.account.active:
        return None, incident, NO_ACCOUNT
    domain = claim.sender.rpartition("@")[2]
    if domain in (d.lower() for d in ctx.config.staff.dkim_domains):
        signed = verified_domain(_raw_bytes(ctx), ctx.dkim_dns)
        if signed is not None and (domain == signed or domain.endswith("." + signed)):
            if incident is None:
                return None, None, DKIM_NO_INCIDENT
            if claim.account.profiles and incident.profile not in claim.account.profiles:
                return None, incident, OTHER_PROFILE
            return claim.account, incident, ""
        return None, incident, DKIM_BAD
    return None, incident, NO_TOKEN


def _raw_bytes(ctx: Context) -> bytes:
    return read_raw(ctx.spool, ctx.raw.data, ctx.raw.spool)


def _header_values(ctx: Context, name: str) -> list[str]:
    """The values of every ``name`` field of the raw header, unfolded, in order."""
    raw = _raw_bytes(ctx)
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    head = raw[: min(ends, default=len(raw))].decode("utf-8", "replace")
    fields: list[str] = []
    for line in head.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return [f.partition(":")[2] for f in fields if f.partition(":")[0].strip().lower() == name]


def _from_mailboxes(ctx: Context) -> int:
    """How many mailboxes the mail's From fields name, all fields together (R21: more than one is
    never staff). Read from the raw header: the parsed message keeps only the first."""
    values = _header_values(ctx, "from")
    return max(len(values), sum(1 for _, addr in getaddresses(values) if addr))


def _envelope_sender(ctx: Context) -> str:
    """MAIL FROM: as the SMTP door stored it; for mail fetched by IMAP, the topmost Return-Path,
    which the delivering mail server writes from the envelope (a sender's own is replaced)."""
    if ctx.raw.envelope_from or ctx.raw.channel != "imap":
        return (ctx.raw.envelope_from or "").lower()
    paths = _header_values(ctx, "return-path")
    found = getaddresses(paths[:1])
    return found[0][1].lower() if found else ""


def _tagged_incident(ctx: Context) -> Incident | None:
    ids = [i for i in [ctx.message.in_reply_to, *ctx.message.references] if i]
    matches = inc.find_by_thread(ctx.session, ids, internal=True)
    if matches:
        return matches[0]
    if ctx.message.ticket_ref is not None:
        return ctx.session.get(Incident, ctx.message.ticket_ref)
    return None


def _refuse(ctx: Context, claim: Claim, incident: Incident | None, why: str) -> None:
    """R21: held, reported to the profile's staff, never relayed nor acted on."""
    profile = incident.profile if incident is not None else ctx.profile
    reason = REASONS_JA.get(why, why).format(days=ctx.config.staff.token_days)
    prefix = ctx.config.profile(profile).tag_prefix
    tag = f"{incident_tag(incident.id, prefix)} " if incident else ""
    audit(
        ctx.session,
        "staff_claim_held",
        target=f"raw:{ctx.raw.id}",
        at=ctx.now,
        detail={"why": why, "incident": incident.id if incident else None},
    )
    alert_staff(
        ctx.session,
        ctx.config,
        profile,
        subject=f"{tag}スタッフを名乗るメールを保留しました（送信されていません）",
        body=(
            "スタッフを名乗るメールを認証できなかったため、保留しました。お客様には何も送信して"
            "おらず、コマンドも実行していません。\n\n"
            f"  保留したメール: 受信メール {ctx.raw.id}（ダッシュボードの保留一覧、またはコマンド"
            " uketsuke held list で確認できます）\n"
            f"  差出人: {claim.sender or '(なし)'}\n"
            f"  件名: {ctx.message.subject}\n"
            f"  理由: {reason}\n\n"
            "心当たりがない場合は、なりすましの可能性があります。\n"
        ),
        now=ctx.now,
        incident_id=incident.id if incident else None,
    )
    raise Held(f"staff claim not trusted: {why}")


def _tell_staff(
    ctx: Context, member: StaffUser, incident: Incident, reason: str, command: str = ""
) -> None:
    """An answer that cannot be acted on is not relayed; its author is told why (or why a
    hold or approval ``command`` was not carried out)."""
    context = {
        "reason": reason,
        "categories": "、".join(CATEGORY_LABELS.values()),
        "command": command,
    }
    mail_member(ctx, member, incident, OutboxKind.STAFF_ERROR, context)
