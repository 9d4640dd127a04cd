"""Serving the web app inside the daemon: waitress (a production WSGI server) in a thread.

The socket is bound when the server is made, so the daemon says READY=1 only after the web port
listens, as for SMTP (docs/architecture.md, "Supervision"). ``uketsuke run --no-web`` serves
nothing; ``intake.web.wsgi`` serves the same app under another WSGI server (gunicorn behind
your own proxy).
"""

from __future__ import annotations

import contextlib
import logging
import threading

from flask import Flask

log = logging.getLogger("uketsuke.web")

THREADS = 4


class WebServer:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        from waitress.server import create_server

        self.server = create_server(app, host=host, port=port, threads=THREADS, ident="uketsuke")
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
