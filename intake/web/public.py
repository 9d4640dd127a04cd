"""Customer pages (R1–R3, R7, R8, R14, R15, R17, R30): the inquiry form, the license-key form,
and the one-click close page — in Japanese, working without JavaScript.

Each form is a door: what the customer typed becomes a :class:`~intake.web.submit.Submission`,
stored first and accepted by the same accept as mail. Errors are shown next to their field with
everything typed kept; a confirmation page comes before anything is stored.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from intake.filelimits import LIMITS_TEXT as UPLOAD_HINT
from intake.incidenttag import incident_tag
from intake.web.context import web_context
from intake.web.forms import CATEGORIES, LICENSE_REASONS, MAX_ITEMS, InquiryForm, LicenseForm
from intake.web.uploads import UploadError, check, discard, load, stash

public = Blueprint("public", __name__)
CONFIRMS_PER_SUBMISSION = 3  # confirmations per IP per hour: 3 × web.submissions_per_ip_per_hour
NOT_KEPT = (
    "入力内容にエラーがあるため、添付ファイルはまだお預かりしていません。"
    "エラーを修正したうえで、もう一度ファイルを選択してください。"
)
NOT_KEPT_YET = (
    "添付ファイルは、すべての項目を入力して「確認」を押したときにお預かりします。"
    "お手数ですが、そのときにもう一度ファイルを選択してください。"
)


def _terms(profile: str) -> Any:
    config = web_context().config
    if profile not in config.profiles:
        abort(404)
    return config.profile(profile)


def _common(profile: str) -> dict[str, Any]:
    terms = _terms(profile)
    return {
        "site_name": terms.display_name or profile,
        "home_url": f"/{profile}/inquiry",
        "tag_prefix": terms.tag_prefix,
    }


@public.route("/<profile>/inquiry", methods=["GET", "POST"])
def inquiry(profile: str) -> Any:
    common = _common(profile)
    form = InquiryForm()
    token = request.form.get("upload_token", "") if request.method == "POST" else ""
    token = token if token in session.get("uploads", []) else ""
    stashed = [u.filename for u in load(_upload_root(), token)] if token else []
    page = {"max_items": MAX_ITEMS, "upload_hint": UPLOAD_HINT, **common}
    action = request.form.get("action") if request.method == "POST" else None
    upload_error = None
    valid = False
    if action in ("add_item", "confirm"):
        if action == "confirm" or _chosen():
            refused = _too_many_confirms()
            if refused is not None:
                return refused
        # The form first: files are stored only for an otherwise valid form (on "add_item"
        # checked quietly, its errors shown at the confirmation), then checked, then kept.
        valid = _quietly_valid(form) if action == "add_item" else form_valid(form)
        if _chosen():
            if not valid:
                upload_error = NOT_KEPT if action == "confirm" else NOT_KEPT_YET
            else:
                try:
                    uploads = check(request.files.getlist(form.attachments.name))
                    if uploads:
                        token = _keep(uploads)
                        stashed = [u.filename for u in uploads]
                except UploadError as error:
                    upload_error = str(error)
    if action == "add_item" and len(form.items) < MAX_ITEMS:
        form.items.append_entry()
    if action == "confirm":
        if valid and upload_error is None:
            label = dict(CATEGORIES)[form.category.data]
            return render_template(
                "inquiry_confirm.html",
                form=form,
                stashed=stashed,
                upload_token=token,
                category_label=label,
                **common,
            )
        return render_template(
            "inquiry.html",
            form=form,
            upload_error=upload_error,
            stashed=stashed,
            upload_token=token,
            **page,
        )
    if action == "send":
        return _send_inquiry(profile, form, token, page)
    return render_template(
        "inquiry.html",
        form=form,
        upload_error=upload_error,
        stashed=stashed,
        upload_token=token,
        **page,
    )


def _send_inquiry(profile: str, form: InquiryForm, token: str, page: dict[str, Any]) -> Any:
    if not (form.validate() & _known_customer(form)):
        return render_template(
            "inquiry.html", form=form, upload_error=None, stashed=[], upload_token=token, **page
        )
    refused = _refused(form)
    if refused is not None:
        return refused
    from intake.web.submit import Submission, submit

    ctx = web_context()
    submission = Submission(
        form="inquiry",
        profile=profile,
        fields=_fields(form),
        email=form.email.data,
        subject=form.subject.data,
        items=[entry.data.strip() for entry in form.items if entry.data and entry.data.strip()],
        category=form.category.data,
        urgent=bool(form.urgent.data),
        uploads=load(_upload_root(), token) if token else [],
    )
    if _is_bot(form):
        return _done_for_bot(page)
    outcome = submit(ctx.config, ctx.sessions, ctx.pipeline.process, submission, ctx.clock.now())
    if token:
        discard(_upload_root(), token)
        session["uploads"] = [t for t in session.get("uploads", []) if t != token]
    calendar = ctx.config.profile(profile).calendar()
    from responder.acks import format_ja

    return render_template(
        "inquiry_done.html",
        incidents=outcome.incidents,
        received_at=format_ja(outcome.received_at),
        open_now=calendar.is_open(outcome.received_at),
        handling_starts=format_ja(calendar.next_open(outcome.received_at)),
        email=form.email.data,
        **page,
    )


@public.route("/<profile>/license", methods=["GET", "POST"])
def license_request(profile: str) -> Any:
    common = _common(profile)
    terms = _terms(profile)
    form = LicenseForm()
    page = {"cutoff": terms.license_cutoff, **common}
    action = request.form.get("action") if request.method == "POST" else None
    if action == "confirm" and form.validate() & _known_customer(form):
        return render_template(
            "license_confirm.html",
            form=form,
            reason_label=dict(LICENSE_REASONS)[form.reason.data],
            **common,
        )
    if action == "send" and form.validate() & _known_customer(form):
        refused = _refused(form)
        if refused is not None:
            return refused
        if _is_bot(form):
            return _done_for_bot(common)
        return _send_license(profile, form, common)
    return render_template("license.html", form=form, **page)


def _send_license(profile: str, form: LicenseForm, common: dict[str, Any]) -> Any:
    from intake.web.submit import Submission, submit
    from responder.acks import format_ja
    from scheduler.cutoff import license_due

    ctx = web_context()
    reason = dict(LICENSE_REASONS)[form.reason.data]
    text = (
        "ライセンスキーの再発行をお願いします。\n"
        f"製品名: {form.product.data}\n再発行の理由: {reason}\n"
        f"新しいサーバーの情報:\n{form.new_server.data.strip()}"
    )
    submission = Submission(
        form="license",
        profile=profile,
        fields=_fields(form),
        email=form.email.data,
        subject="ライセンスキー再発行のご依頼",
        items=[text],
        category="license",
        extra={"製品名": form.product.data, "再発行の理由": reason},
    )
    outcome = submit(ctx.config, ctx.sessions, ctx.pipeline.process, submission, ctx.clock.now())
    due = license_due(ctx.config.profile(profile).calendar(), outcome.received_at)
    return render_template(
        "license_done.html",
        incidents=outcome.incidents,
        received_at=format_ja(outcome.received_at),
        due=format_ja(due),
        **common,
    )


@public.route("/close/<token>", methods=["GET", "POST"])
def close_link(token: str) -> Any:
    """R17: GET shows the incident and a button (changes nothing); POST closes it, once."""
    from intake.answers import close
    from intake.closelink import token_incident, verify, web_secret
    from intake.models import Incident

    ctx = web_context()
    number = token_incident(token)
    now = ctx.clock.now()
    with ctx.sessions.begin() as db:
        incident = db.get(Incident, number) if number is not None else None
        terms = ctx.config.profile(incident.profile) if incident is not None else None
        if incident is None or not verify(web_secret(ctx.config), token, incident.close_nonce, now):
            return render_template(
                "message.html",
                title="このリンクは使えません",
                message="リンクの有効期限が切れたか、すでにクローズ済みか、新しい回答のリンクに"
                "置き換わっています。引き続きご不明な点があれば、回答メールにご返信ください。",
            ), 410
        common = {"site_name": terms.display_name, "tag_prefix": terms.tag_prefix}
        if request.method == "GET":
            return render_template(
                "close.html",
                incident=incident,
                csrf_token_field=Markup(
                    f'<input type="hidden" name="csrf_token" value="{generate_csrf()}">'
                ),
                **common,
            )
        close(db, ctx.config, incident, now, by="customer")
        return render_template(
            "message.html",
            title="クローズしました",
            message=f"{incident_tag(incident.id, terms.tag_prefix)} をクローズしました。"
            "ご利用ありがとうございました。",
            **common,
        )


def _fields(form: Any) -> dict[str, str]:
    return {
        "company": form.company.data,
        "name": form.name.data,
        "domain": form.domain.data,
        "customer_number": form.customer_number.data,
    }


def _known_customer(form: Any) -> bool:
    """R2 at the form: with a registry loaded, an unknown customer number is shown as the
    field's error (rather than asked for again by mail)."""
    from intake.identify import find_customer, registry_loaded

    if form.customer_number.errors or not form.customer_number.data:
        return True
    with web_context().sessions() as db:
        if registry_loaded(db) and find_customer(db, form.customer_number.data) is None:
            form.customer_number.errors = [
                *form.customer_number.errors,
                "この顧客番号はご登録が確認できません。ご契約時の番号をご確認ください。",
            ]
            return False
    return True


def _refused(form: Any) -> Any | None:
    """R30: too many submissions from one IP or one address in an hour."""
    ctx = web_context()
    web = ctx.config.web
    ip_ok = ctx.limiter.allow(f"ip:{request.remote_addr}", web.submissions_per_ip_per_hour)
    address = (form.email.data or "").lower()
    address_ok = ctx.limiter.allow(f"to:{address}", web.submissions_per_address_per_hour)
    if ip_ok and address_ok:
        return None
    return render_template(
        "message.html",
        title="しばらくしてから送信してください",
        message="短い時間に多くの送信がありました。お手数ですが、時間をおいてからもう一度"
        "送信してください。お急ぎの場合はメールでお問い合わせください。",
    ), 429


def _is_bot(form: Any) -> bool:
    return bool((form.website.data or "").strip())


def _done_for_bot(page: dict[str, Any]) -> Any:
    """The honeypot was filled: a bot is told nothing, and nothing is stored."""
    return render_template(
        "message.html", title="送信しました", message="お問い合わせを受け付けました。", **page
    )


def form_valid(form: Any) -> bool:
    return bool(form.validate() & _known_customer(form))


def _quietly_valid(form: Any) -> bool:
    """Whether the form would pass, without showing its errors (the customer is still typing)."""
    valid = form_valid(form)
    for field in form:
        field.errors = []
        for entry in getattr(field, "entries", ()):
            entry.errors = []
    return valid


def _chosen() -> bool:
    return any(f and f.filename for f in request.files.getlist("attachments"))


def _too_many_confirms() -> Any | None:
    """R30: confirmations (and files kept on adding an item) per client address in an hour."""
    ctx = web_context()
    limit = CONFIRMS_PER_SUBMISSION * ctx.config.web.submissions_per_ip_per_hour
    if ctx.limiter.allow(f"confirm:{request.remote_addr}", limit):
        return None
    return render_template(
        "message.html",
        title="しばらくしてからお試しください",
        message="短い時間に多くの確認操作がありました。お手数ですが、時間をおいてからもう一度"
        "お試しください。お急ぎの場合はメールでお問い合わせください。",
    ), 429


def _upload_root() -> Any:
    return web_context().config.home_path / "web-uploads"


def _keep(uploads: list[Any]) -> str:
    token = stash(_upload_root(), uploads)
    session["uploads"] = [*session.get("uploads", [])[-9:], token]
    return token
