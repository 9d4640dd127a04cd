"""Findings of the security test of the web app (issue 15): control characters in dashboard
searches and in the login's ``next``, the request body limit of the server, and the headers of
the customer pages."""

from __future__ import annotations

import contextlib
import logging
import socket
from urllib.parse import urlsplit

import pytest

from intake import db
from intake.config import load_config
from intake.models import Incident
from intake.web import create_app, search
from intake.web.search import Filters
from tests.test_web_staff import (
    OPEN,
    PASSWORD,
    STAFF,
    Clock,
    audits,
    furnish,
    login,
    numbers,
    token,
)

SECRET_TERM = "件名1"


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


@pytest.fixture
def indexed(database_url):
    """A migrated database (SQLite: with 0008's FTS5 index) with five incidents 件名1 … 件名5."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    furnish(sessions)
    with sessions.begin() as session:
        for n in range(1, 6):
            session.add(
                Incident(profile="helpdesk", channel="smtp", subject=f"件名{n}", created_at=OPEN)
            )
    yield sessions
    engine.dispose()


def test_r26_search_terms_lose_control_characters_and_are_never_logged(
    config, indexed, monkeypatch, caplog
) -> None:
    """A NUL in a term gave 500 past the newest window (the FTS5 query) and its traceback logged
    the term; ``q=%00`` alone matched every incident. Control characters are now dropped from
    terms, and a term left empty is no term."""
    monkeypatch.setattr(search, "WINDOW", 1)  # all but the newest incident through the index
    client = create_app(config, indexed, Clock(OPEN)).test_client()
    assert login(client).status_code == 303
    caplog.set_level(logging.DEBUG)

    def found(**query: str) -> list[int]:
        page = client.get("/staff/", query_string=query)
        assert page.status_code == 200, query
        return numbers(page)

    everything = [5, 4, 3, 2, 1]
    assert found(q=f"{SECRET_TERM}\x00", before="5") == [1]
    assert found(q=f"{SECRET_TERM}\x00") == [1]
    assert found(q="件\u202e名\x7f1") == [1]  # a bidi override, DEL
    assert found(q="\x00\x00\x00") == everything  # nothing left: no search at all
    assert found(q="\x00", before="5") == [4, 3, 2, 1]
    assert found(q="件名9\x00") == []
    assert found(q="件\t1") == [1]  # a tab still separates terms: 件 and 1 (not 件1)
    for record in caplog.records:
        logged = record.getMessage() + (record.exc_text or "")
        assert SECRET_TERM not in logged and "\x00" not in logged, logged
    shown = [entry.detail for entry in audits(indexed, "view_list")]
    assert {"q": SECRET_TERM, "before": 5} in shown
    assert not any("\x00" in str(detail) for detail in shown)
    filters = Filters.from_args({"q": "\x00 印刷\u2028\x1b", "customer": "C0123-4567\x00"}, [])
    assert (filters.q, filters.customer) == ("印刷", "C0123-4567")
    assert Filters.from_args({"q": "\x00", "customer": "\x00"}, []).shown() == {}


def test_r26_a_failed_search_logs_neither_its_terms_nor_the_driver_message(
    config, indexed, monkeypatch, caplog
) -> None:
    """Whatever goes wrong in a search, its log line quotes no term: not the query's parameters,
    not the database's message (FTS5 and PostgreSQL errors can quote the text they choke on)."""
    from sqlalchemy import text

    client = create_app(config, indexed, Clock(OPEN)).test_client()
    assert login(client).status_code == 303
    real = search.term_condition

    def failing(session, term, window=None):
        """The database chokes on the term and quotes it in its message."""
        if session.get_bind().dialect.name == "postgresql":
            statement, value = "SELECT CAST(:term AS integer)", term
        else:  # FTS5: "no such column: 件名1"
            statement = "SELECT rowid FROM incident_search WHERE incident_search MATCH :term"
            value = f"{term} : x"
        session.execute(text(statement), {"term": value})
        return real(session, term, window)

    monkeypatch.setattr(search, "term_condition", failing)
    caplog.set_level(logging.DEBUG)
    assert client.get("/staff/", query_string={"q": SECRET_TERM}).status_code == 500
    logged = "".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert SECRET_TERM not in logged
    assert " while searching incidents" in logged  # the class only (a driver class on PostgreSQL)


@pytest.mark.parametrize(
    "target",
    [
        "/staff/held\r\nSet-Cookie: uketsuke_session=x",  # header injection (was 500)
        "/staff/\n",
        "/staff/held\x00",
        "/staff/\t/held",
        "/staff/held\u2028",
        "//evil.example/staff/",
        "https://evil.example/staff/",
        "/\\evil.example/staff/",
        "javascript:alert(1)//staff/",
        "/helpdesk/inquiry",  # local, but not the dashboard's
        "staff/held",
    ],
)
def test_r26_r30_login_next_with_control_characters_or_elsewhere_goes_to_the_list(
    config, sessions, target
) -> None:
    """CR/LF in ``next`` gave 500 (werkzeug refuses a header with a line break); any ``next``
    but a dashboard path of this site now leads to the incident list, and the login page does
    not carry it on."""
    furnish(sessions)
    client = create_app(config, sessions, Clock(OPEN)).test_client()
    page = client.get("/staff/login", query_string={"next": target})
    assert page.status_code == 200 and 'name="next"' not in page.text
    data = {"csrf_token": token(client), "email": STAFF, "password": PASSWORD, "next": target}
    answer = client.post("/staff/login", data=data)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/staff/")
    assert "Set-Cookie: uketsuke_session=x" not in str(answer.headers)


def test_r26_login_next_keeps_a_dashboard_path(config, sessions) -> None:
    furnish(sessions)
    client = create_app(config, sessions, Clock(OPEN)).test_client()
    target = "/staff/?q=%E5%8D%B0%E5%88%B7&state=open"
    page = client.get("/staff/login", query_string={"next": target})
    assert 'name="next" value="/staff/?q=%E5%8D%B0%E5%88%B7&amp;state=open"' in page.text
    data = {"csrf_token": token(client), "email": STAFF, "password": PASSWORD, "next": target}
    answer = client.post("/staff/login", data=data)
    assert (answer.status_code, answer.headers["Location"]) == (303, target)


def _answer(connection: socket.socket, seconds: float = 10) -> bytes:
    """What the server says until it closes the connection (or ``seconds`` pass)."""
    connection.settimeout(seconds)
    answer = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_r30_the_server_refuses_a_body_over_the_limit_before_reading_it(config, sessions) -> None:
    """waitress read bodies up to its default of 1 GiB before the app's 20 MB limit saw them; now
    a Content-Length over the app's limit (and the form's margin) is answered 413 at once, in
    Japanese, while the body is still unsent."""
    from intake.web import MAX_UPLOAD_BYTES
    from intake.web.server import WebServer

    server = WebServer(create_app(config, sessions, Clock(OPEN)), "127.0.0.1", 0)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            connection.sendall(
                b"POST /helpdesk/inquiry HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\n"
                + f"Content-Length: {2 * MAX_UPLOAD_BYTES}\r\n\r\n".encode()
                + b"--x\r\n" * 1000
            )
            # The body is never sent: a server that waited for it would leave this read to the
            # socket's timeout, not answer 413.
            answer = _answer(connection)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"Content-Type: text/plain; charset=utf-8" in head
        assert "添付ファイルが大きすぎます。" in body.decode()
        assert f"合計 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB まで" in body.decode()
        # Just over the app's limit (within the margin): the app's own page, as before.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            length = MAX_UPLOAD_BYTES + 1
            connection.sendall(
                b"POST /helpdesk/inquiry HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                + f"Content-Length: {length}\r\n\r\n".encode()
                + b"a" * length
            )
            answer = _answer(connection)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"Content-Type: text/html" in answer
        assert "添付ファイルが大きすぎます" in answer.decode()
    finally:
        server.close()


def test_r26_customer_pages_send_the_staff_pages_security_headers(config, sessions) -> None:
    """The inquiry and license forms and the close page sent no X-Frame-Options or CSP while the
    dashboard did: every page now gets the dashboard's (no framing, no script, styles of the
    page only, forms to this site), all but its ``Cache-Control: no-store``."""
    from intake.closelink import close_url
    from intake.web.staff import SECURITY_HEADERS
    from tests.test_web_form import inquiry

    furnish(sessions)
    with sessions.begin() as session:
        incident = Incident(
            profile="helpdesk", channel="smtp", subject="件名", created_at=OPEN, close_nonce="n1"
        )
        session.add(incident)
        session.flush()
        url, _ = close_url(config, incident.id, "n1", OPEN)
    client = create_app(config, sessions, Clock(OPEN)).test_client()
    close_path = urlsplit(url).path
    pages = {
        "inquiry": client.get("/helpdesk/inquiry"),
        "license": client.get("/helpdesk/license"),
        "close": client.get(close_path),
        "close, used up": client.get("/close/0-0-0"),
        "confirm": client.post("/helpdesk/inquiry", data=inquiry(client, action="confirm")),
        "no such profile": client.get("/nowhere/inquiry"),
    }
    expected = {k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"}
    for name, page in pages.items():
        assert page.status_code in (200, 404, 410), name
        for header, value in expected.items():
            assert page.headers.get(header) == value, (name, header)
        assert "<script" not in page.text and " style=" not in page.text, name  # the CSP holds
    assert expected["X-Frame-Options"] == "DENY"
    assert expected["Referrer-Policy"] == "same-origin"  # the close link's token stays here
    assert expected["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in expected["Content-Security-Policy"]
    assert "<style>" in pages["inquiry"].text  # the one inline style block the policy allows
    assert "style-src 'unsafe-inline'" in expected["Content-Security-Policy"]
    assert pages["close"].status_code == 200 and "クローズ" in pages["close"].text
    assert pages["confirm"].status_code == 200 and "山田 太郎" in pages["confirm"].text
    assert "no-store" not in pages["inquiry"].headers.get("Cache-Control", "")
    assert login(client).status_code == 303
    assert client.get("/staff/").headers["Cache-Control"] == "no-store"  # the dashboard's still
