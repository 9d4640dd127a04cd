"""The daemon serves the web app (issue 11: waitress in a thread, bound before READY=1), or not
with ``--no-web``; X-Forwarded-* only when configured; the WSGI entry point for other servers."""

from __future__ import annotations

import dataclasses
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.config import load_config
from intake.web import create_app
from tests.daemon import Daemon


@pytest.fixture
def daemon(tmp_path: Path, database_url: str) -> Iterator[Daemon]:
    home = tmp_path / "home"
    home.mkdir()
    instance = Daemon(home, database_url)
    assert instance.cli("migrate").returncode == 0
    yield instance
    instance.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_r7_the_daemon_serves_forms_and_health_once_ready(daemon: Daemon) -> None:
    daemon.start()  # READY=1: the web port is bound already
    base = f"http://127.0.0.1:{daemon.web_port}"
    assert get(f"{base}/healthz") == (200, "ok\n")
    status, page = get(f"{base}/helpdesk/inquiry")
    assert status == 200 and "お問い合わせフォーム" in page
    assert get(f"{base}/staff/")[0] == 200  # the login page, after the redirect
    assert f"{base}/helpdesk/inquiry" in daemon.tail(50)  # the URLs are printed
    assert daemon.terminate() == 0


def test_run_no_web_opens_no_web_port(daemon: Daemon) -> None:
    daemon.start(60, "--no-web")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", daemon.web_port), timeout=2).close()
    assert daemon.terminate() == 0


def test_r26_forwarded_for_is_trusted_only_with_proxy_hops(tmp_path, sessions) -> None:
    config = load_config(None, env={"UKETSUKE_HOME": str(tmp_path)})
    seen: list[str | None] = []

    def remember() -> str:
        from flask import request

        seen.append(request.remote_addr)
        return "ok"

    for hops in (0, 1):
        web = dataclasses.replace(config.web, proxy_hops=hops)
        app = create_app(dataclasses.replace(config, web=web), sessions)
        app.add_url_rule("/whoami", "whoami", remember)
        app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"})
    assert seen == ["127.0.0.1", "203.0.113.7"]


def test_wsgi_entry_point_builds_the_app(tmp_path, monkeypatch, database_url) -> None:
    import importlib
    import sys

    monkeypatch.setenv("UKETSUKE_HOME", str(tmp_path))
    monkeypatch.setenv("UKETSUKE_DATABASE_URL", database_url)
    sys.modules.pop("intake.web.wsgi", None)
    wsgi = importlib.import_module("intake.web.wsgi")
    assert wsgi.app.test_client().get("/helpdesk/inquiry").status_code == 200
