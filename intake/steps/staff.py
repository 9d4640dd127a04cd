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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake import incidents as inc
from intake.answers import act
from intake.audit import audit
from intake.dkimcheck import verified_domain
from intake.incidenttag import incident_tag
from intake.models import Incident, StaffUser
from intake.outcomes import Held, Processed
from intake.spool import read_raw
from intake.staffcommands import CATEGORIES, CommandError, parse_answer
from intake.stafftoken import ReplyToken, base_address, token_in, verifies
from intake.states import OutboxKind
from intake.steps.context import Context
from responder.queue import STAFF, queue_mail
from responder.staffnotify import REPLY_MARKER, alert_staff


@dataclass
class Claim:
    tokens: list[ReplyToken]
    sender: str
    account: StaffUser | None


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
    try:
        answer = parse_answer(answer_text, REPLY_MARKER)
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
        _tell_staff(ctx, staff_member, incident, str(exc))
        raise Processed(f"staff answer to #{incident.id} not acted on: {exc}") from None
    raise Processed(f"staff answer to #{incident.id}: {', '.join(done)}")


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
    key = ctx.config.staff.reply_key
    for token in claim.tokens:
        member = ctx.session.get(StaffUser, token.staff_id)
        incident = ctx.session.get(Incident, token.incident_id)
        if (
            member is None
            or not member.active
            or not verifies(token, key, member.reply_secret, member.email)
        ):
            return None, incident, "the reply address's token does not verify"
        if member.email.lower() != claim.sender:
            return None, incident, "the sender is not the staff member the token was made for"
        if incident is None:
            return None, None, "the token names no incident"
        if member.profiles and incident.profile not in member.profiles:
            return None, incident, "the staff member does not work for the incident's profile"
        return member, incident, ""
    incident = _tagged_incident(ctx)
    if claim.account is None or not claim.account.active:
        return None, incident, "a staff address without an active staff account"
    domain = claim.sender.rpartition("@")[2]
    if domain in (d.lower() for d in ctx.config.staff.dkim_domains):
        signed = verified_domain(read_raw(ctx.spool, ctx.raw.data, ctx.raw.spool), ctx.dkim_dns)
        if signed is not None and (domain == signed or domain.endswith("." + signed)):
            if incident is None:
                return None, None, "DKIM verified, but the mail names no incident"
            if claim.account.profiles and incident.profile not in claim.account.profiles:
                return None, incident, "the staff member does not work for the incident's profile"
            return claim.account, incident, ""
        return None, incident, "DKIM does not verify for the staff domain"
    return None, incident, "no reply token (answer by replying to the staff notification)"


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
            f"  保留したメール: raw {ctx.raw.id}（uketsuke held list で確認できます）\n"
            f"  差出人: {claim.sender or '(なし)'}\n"
            f"  件名: {ctx.message.subject}\n"
            f"  理由: {why}\n\n"
            "心当たりがない場合は、なりすましの可能性があります。\n"
        ),
        now=ctx.now,
        incident_id=incident.id if incident else None,
    )
    raise Held(f"staff claim not trusted: {why}")


def _tell_staff(ctx: Context, member: StaffUser, incident: Incident, reason: str) -> None:
    """R20: an answer that cannot be acted on is not relayed; its author is told why."""
    tag = incident_tag(incident.id, ctx.config.profile(incident.profile).tag_prefix)
    queue_mail(
        ctx.session,
        ctx.config,
        incident.profile,
        kind=OutboxKind.STAFF_ERROR,
        to=[member.email],
        now=ctx.now,
        template="staff_error",
        context={
            "tag": tag,
            "reason": reason,
            "staff_name": member.name,
            "categories": ", ".join(CATEGORIES),
        },
        voice=STAFF,
        incident_id=incident.id,
    )
