"""Staff login for the dashboard (R26: "the staff dashboard needs a login").

- Passwords are set with ``uketsuke staff passwd`` and stored as werkzeug scrypt hashes; an
  account that is inactive or has no password cannot log in.
- The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https), marked
  permanent: it ends ``web.staff_session_minutes`` after the last request (each request renews
  it), and Flask refuses a cookie signed longer ago than that. It holds the account's id and a
  MAC of its address, password hash and session generation, checked against the database on
  every request. Logout and ``staff passwd`` bump the generation (``staff remove`` deletes the
  row), so each ends every session of the account on the server: a copied cookie is worthless
  afterwards. One counter per account rather than a table of ended session ids: nothing grows,
  nothing to expire, and the check is the row the guard loads anyway; the price is that logging
  out on one browser logs the member out on the others too.
- Guessing is slowed per (address, client address) pair: after
  ``web.login_attempts_per_15_minutes`` failures of the pair within 15 minutes, the pair is
  locked for 1 minute, doubled with each further failure up to 15 minutes; while locked its
  attempts get 429 without the password being checked (R30: a clear answer, with the wait).
  Other accounts' failures and failures from other client addresses never refuse a correct
  password; only a coarse limit per client address (:data:`IP_FAILURES`, high enough for an
  office behind one NAT) stops a sweep over many addresses. A lock-out is logged once when it
  starts and audited once when it first refuses an attempt, not per attempt. A success clears
  its pair's count, never the client address's. Counts live in the daemon's memory (per
  instance, like the form limits).
- Every login, failure (with its reason, never the password) and logout is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import (
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from intake.audit import audit
from intake.models import StaffUser
from intake.web.context import web_context
from intake.web.limits import Backoff
from intake.web.staff_common import member, now
from intake.web.textsearch import is_control

WINDOW_SECONDS = 15 * 60
SESSION_STAFF = "staff_id"
SESSION_MAC = "staff_auth"
MAX_EMAIL = 320
FAILED = "メールアドレスまたはパスワードが正しくありません。"
THROTTLED = (
    "ログインの失敗が続いたため、しばらくログインできません。{minutes}分ほど待ってから、もう一度"
    "お試しください。"
)
IP_THROTTLED = (
    "このネットワークからのログインの失敗が多いため、しばらくログインできません。{minutes}分ほど"
    "待ってから、もう一度お試しください。"
)
IP_FAILURES = 50  # failures per client address in 15 minutes (at least 10 × the pair's limit)
log = logging.getLogger("uketsuke.web")


_dummy_hash: str | None = None


def _verify(user: StaffUser | None, password: str) -> str | None:
    """None when ``password`` is the account's; else why not (for the audit). An unknown
    account costs a hash check too, so timing does not tell which addresses exist."""
    global _dummy_hash
    if user is None or not user.password_hash:
        if _dummy_hash is None:
            _dummy_hash = generate_password_hash(secrets.token_hex(16), method="scrypt")
        check_password_hash(_dummy_hash, password)
        return "unknown_account" if user is None else "no_password"
    if not check_password_hash(user.password_hash, password):
        return "wrong_password"
    if not user.active:
        return "inactive"
    return None


def session_mac(user: StaffUser) -> str:
    """Ties a session to the account, password and session generation it was opened with (a
    new password, a logout or a removal ends it)."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    message = f"{user.id}:{user.email}:{user.session_generation}:{user.password_hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def load_member() -> StaffUser | None:
    """The logged-in member, or None: no session, or its account is gone, inactive, without a
    password or has another password now."""
    staff_id = session.get(SESSION_STAFF)
    if not isinstance(staff_id, int):
        return None
    with web_context().sessions() as db_session:
        user = db_session.get(StaffUser, staff_id)
    if user is None or not user.active or not user.password_hash:
        return None
    if not hmac.compare_digest(str(session.get(SESSION_MAC, "")), session_mac(user)):
        return None
    return user


def _throttles() -> tuple[Backoff, Backoff]:
    """Failures per (address, client address) pair, with back-off; per client address."""
    made = current_app.extensions.get("uketsuke.staff_login")
    if made is None:
        made = (Backoff(), Backoff(first=WINDOW_SECONDS, longest=WINDOW_SECONDS))
        current_app.extensions["uketsuke.staff_login"] = made
    return made


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def safe_next(target: str | None) -> str | None:
    """Only a dashboard path of this site (no open redirect): ``/staff/…``, no scheme, no host
    (``//``), no backslash, and no control character (a line break in ``Location`` is a 500,
    and browsers drop tabs and line breaks from URLs). Anything else: the incident list."""
    if not target or "\\" in target or any(is_control(c) for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/staff/"):
        return None
    return target


def _audit_login(action: str, email: str, **detail: Any) -> None:
    with web_context().sessions.begin() as db_session:
        audit(
            db_session,
            action,
            actor=email if action != "login_failed" else "web",
            target=f"staff:{email}"[:255] if email else None,
            at=now(),
            detail=detail,
        )


def login() -> Any:
    if request.method == "GET":
        if load_member() is not None:
            return redirect(url_for("staff.incidents"))
        return _login_page(next_url=safe_next(request.args.get("next")))
    config = web_context().config
    email = (request.form.get("email") or "").strip().lower()[:MAX_EMAIL]
    password = request.form.get("password") or ""
    next_url = safe_next(request.form.get("next"))
    limit = config.web.login_attempts_per_15_minutes
    ip = request.remote_addr or "-"
    pair_key, ip_key = f"{email}\n{ip}", ip
    pairs, ips = _throttles()
    for throttle, key, message in ((ips, ip_key, IP_THROTTLED), (pairs, pair_key, THROTTLED)):
        left = throttle.locked(key)
        if left:
            if throttle.announce(key):  # once per lock-out, not per attempt
                scope = "ip" if throttle is ips else "pair"
                _audit_login("login_failed", email, reason="rate_limited", ip=ip, scope=scope)
            text = message.format(minutes=_minutes(left))
            return _login_page(email, text, next_url, status=429)
    with web_context().sessions() as db_session:
        user = db_session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
    reason = _verify(user, password)
    if reason is not None:
        pair_locked = pairs.fail(pair_key, limit)
        ip_locked = ips.fail(ip_key, max(IP_FAILURES, 10 * limit))
        _audit_login("login_failed", email, reason=reason, ip=ip)
        if pair_locked:
            log.warning(
                "staff login for %r from %s locked for %d s after %d failures",
                email,
                ip,
                round(pairs.locked(pair_key)),
                pairs.count(pair_key),
            )
        if ip_locked:
            log.warning(
                "staff logins from %s locked for %d s after %d failures",
                ip,
                round(ips.locked(ip_key)),
                ips.count(ip_key),
            )
        for throttle, key, message in ((ips, ip_key, IP_THROTTLED), (pairs, pair_key, THROTTLED)):
            left = throttle.locked(key)
            if left:
                text = message.format(minutes=_minutes(left))
                return _login_page(email, text, next_url, status=429)
        return _login_page(email, FAILED, next_url, status=200)
    assert user is not None
    pairs.reset(pair_key)
    session.clear()
    session.permanent = True
    session[SESSION_STAFF] = user.id
    session[SESSION_MAC] = session_mac(user)
    _audit_login("login", user.email, ip=request.remote_addr)
    return redirect(next_url or url_for("staff.incidents"), 303)


def _login_page(
    email: str = "", error: str | None = None, next_url: str | None = None, status: int = 200
) -> Any:
    page = render_template(
        "staff/login.html", title="スタッフ ログイン", email=email, error=error, next_url=next_url
    )
    return page, status


def end_sessions(db_session: Any, staff_id: int) -> None:
    """Ends every dashboard session of the account (in the caller's transaction)."""
    db_session.execute(
        update(StaffUser)
        .where(StaffUser.id == staff_id)
        .values(session_generation=StaffUser.session_generation + 1)
    )


def logout() -> Any:
    user = member()
    email = user.email
    with web_context().sessions.begin() as db_session:
        end_sessions(db_session, user.id)
    session.clear()
    g.pop("staff", None)
    _audit_login("logout", email)
    return redirect(url_for("staff.login"), 303)
