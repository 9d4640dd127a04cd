"""Serving the web app inside the daemon: waitress (a production WSGI server) in a thread.

The socket is bound when the server is made, so the daemon says READY=1 only after the web port
listens, as for SMTP (docs/architecture.md, "Supervision"). ``uketsuke run --no-web`` serves
nothing; ``intake.web.wsgi`` serves the same app under another WSGI server (gunicorn behind
your own proxy).

waitress reads a request's whole body before the app sees it, so it refuses one longer than the
app's limit (``MAX_CONTENT_LENGTH``, 20 MB) and :data:`FORM_MARGIN` itself: 413 as soon as the
headers announce it, before any of the body is read (its default would read up to 1 GiB), with
the app's message in Japanese. A body between the two gets the app's own 413 page.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

log = logging.getLogger("uketsuke.web")

THREADS = 4
FORM_MARGIN = 1024 * 1024  # the form's fields and the multipart framing beside the files


class _ErrorTask(ErrorTask):
    """waitress's answer to a body over the limit, in the app's words."""

    def execute(self) -> None:
        error = self.request.error
        limit = self.channel.server.adj.max_request_body_size - FORM_MARGIN
        if error is None or error.code != 413 or limit <= 0:
            super().execute()
            return
        body = (
            "添付ファイルが大きすぎます。\r\n\r\n"
            f"送信できる大きさは合計 {limit // (1024 * 1024)} MB までです。"
            "ファイルを小さくするか数を減らして、もう一度送信してください。\r\n"
        ).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    error_task_class = _ErrorTask


class WebServer:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        listeners: dict[int, object] = {}
        limit = app.config.get("MAX_CONTENT_LENGTH")
        body = {"max_request_body_size": limit + FORM_MARGIN} if limit else {}
        self.server = create_server(
            app, map=listeners, host=host, port=port, threads=THREADS, ident="uketsuke", **body
        )
        for listener in listeners.values():  # one per address the host name has
            if isinstance(listener, BaseWSGIServer):
                listener.channel_class = _Channel
        self.port = int(self.server.effective_port)  # type: ignore[union-attr]
        self.host = host
        self.thread = threading.Thread(target=self._run, name="web", daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # closed while stopping
            self.server.run()

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float = 10) -> None:
        self.server.close()
        self.thread.join(timeout)


def urls(base: str, profiles: list[str]) -> str:
    """What ``make run`` prints: the forms of each profile and the dashboard."""
    forms = ", ".join(f"{base}/{p}/inquiry" for p in profiles)
    return f"web forms {forms}; license {base}/{profiles[0]}/license; dashboard {base}/staff/"
