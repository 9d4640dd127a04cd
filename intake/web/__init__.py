"""The web app the daemon serves: customer forms and the staff dashboard (Flask app factory).

``create_app(config)`` builds one app with a blueprint per area (docs/architecture.md, "Layers
and imports"): ``health`` (``/healthz``), ``public`` (the inquiry and license forms and the
one-click close page, R7, R14, R17) and ``staff`` (the dashboard under ``/staff/``, R26).
Templates are ``templates/web``; every POST needs a CSRF token (Flask-WTF); cookies are HttpOnly,
SameSite=Lax, and Secure when the public address is https. Every page, the customers' too, has
the dashboard's security headers (no framing, no script, no referrer to other sites).
``X-Forwarded-*`` headers are trusted only when ``web.proxy_hops`` says how many proxies stand
in front.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, Response, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.orm import Session, sessionmaker

from intake.closelink import web_secret
from intake.config import Config
from intake.web.context import WebContext
from responder.templates import templates_dir
from scheduler.clock import Clock, SystemClock

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # the whole request: 5 files of 4 MB and the form


def create_app(
    config: Config,
    sessions: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
    liveness: Callable[[], str | None] | None = None,
    restarts: Callable[[], int] | None = None,
) -> Flask:
    from intake import db
    from intake.web.health import health
    from intake.web.public import public
    from intake.web.staff import staff

    if sessions is None:
        sessions = db.session_factory(db.make_engine(config.effective_database_url))
    app = Flask(
        "uketsuke",
        template_folder=str(templates_dir() / "web"),
        static_folder=None,
    )
    app.config.update(
        SECRET_KEY=web_secret(config),
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        SESSION_COOKIE_NAME="uketsuke_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.web.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config.web.staff_session_minutes),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    if config.web.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = config.web.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    app.extensions["uketsuke"] = WebContext(
        config, sessions, clock or SystemClock(), liveness=liveness, restarts=restarts
    )
    CSRFProtect(app)
    app.register_blueprint(health)
    app.register_blueprint(public)
    app.register_blueprint(staff, url_prefix="/staff")
    _error_pages(app)
    _security_headers(app)
    return app


def _security_headers(app: Flask) -> None:
    """The dashboard's headers (:data:`intake.web.staff.SECURITY_HEADERS`: never framed, no
    script, styles of the page itself, forms to this site only, no referrer to other sites) on
    every response, the customers' forms and close page too, but its ``no-store``: a customer
    going back from the confirmation page finds the form as typed. The dashboard adds that."""
    from intake.web.staff import SECURITY_HEADERS

    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"}

    @app.after_request
    def harden(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


def _error_pages(app: Flask) -> None:
    def page(title: str, message: str, status: int) -> Any:
        return render_template("message.html", title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> Any:
        return page(
            "送信できませんでした",
            "画面の有効期限が切れたか、不正な送信です。お手数ですが、もう一度フォームを開いて"
            "送信してください。",
            400,
        )

    @app.errorhandler(404)
    def not_found(error: Exception) -> Any:
        return page("ページが見つかりません", "アドレスをご確認ください。", 404)

    @app.errorhandler(413)
    def too_large(error: Exception) -> Any:
        return page(
            "添付ファイルが大きすぎます",
            f"送信できる大きさは合計 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB までです。",
            413,
        )
