"""``uketsuke run`` as a real subprocess, with systemd's notify socket to know when it is ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import UKETSUKE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Daemon:
    """One daemon process; ``start`` returns once it said READY=1 (sockets bound)."""

    def __init__(
        self,
        home: Path,
        database_url: str,
        config: Path | None = None,
        smtp_port: int | None = None,
        web_port: int | None = None,
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.config = config
        self.smtp_port = smtp_port or free_port()
        self.web_port = web_port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_env: dict[str, str] = {}
        self.new_session = False  # its own process group, as a terminal's foreground job is
        self.log = home / "daemon.log"
        self._notify_dir = Path(tempfile.mkdtemp(prefix="uk-notify-"))
        self.notify_path = self._notify_dir / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(0.2)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UKETSUKE_")}
        env.update(
            UKETSUKE_HOME=str(self.home),
            UKETSUKE_DATABASE_URL=self.database_url,
            UKETSUKE_SMTP_PORT=str(self.smtp_port),
            UKETSUKE_WEB_PORT=str(self.web_port),
            NOTIFY_SOCKET=str(self.notify_path),
        )
        if self.config is not None:
            env["UKETSUKE_CONFIG"] = str(self.config)
        env.update(self.extra_env)
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        env.pop("NOTIFY_SOCKET")
        return subprocess.run(
            [str(UKETSUKE), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.home,
        )

    def messages(self, timeout: float) -> list[str]:
        """Notify messages received within ``timeout`` seconds (at least one wait)."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                seen.append(self.notify.recv(4096).decode())
            except TimeoutError:
                if seen:
                    break
        return seen

    def start(self, timeout: float = 60, *args: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(UKETSUKE), "run", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=self.new_session,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}: {self.tail()}")
            try:
                if self.notify.recv(4096).decode() == "READY=1":
                    return
            except TimeoutError:
                continue
        raise TimeoutError(f"daemon not ready: {self.tail()}")

    def progress(self) -> dict[str, Any]:
        """What ``uketsuke status --json`` prints, made in this process by the functions the
        command runs (``status_counts``, ``read_published``): for polling while the daemon
        works, where a command per poll (a Python start-up, a third of a CPU second) would take
        a core from it. Tests assert on the command's own output once the wait is over."""
        from intake import db
        from intake.cli.admin import status_counts
        from intake.processor_handle import read_published

        engine = db.make_engine(self.database_url)
        try:
            with db.read_sessions(db.session_factory(engine))() as session:
                counts = status_counts(session)
        finally:
            engine.dispose()
        counts["processor"] = read_published(self.home)
        return counts

    def wait_for_heartbeat(self, seconds: float = 60) -> None:
        """Until the processor has beaten once (what ``status --json`` shows, polled with
        :meth:`progress`); a hang guard, not a limit."""
        deadline = time.monotonic() + seconds
        while True:
            if self.progress()["processor"]["heartbeat_age_s"] is not None:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no processor heartbeat: {self.tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        self.kill()
        self.notify.close()
        self.notify_path.unlink(missing_ok=True)
        self._notify_dir.rmdir()


def write_imap_config(path: Path, server: Any, profile: str = "helpdesk", **extra: object) -> Path:
    """A configuration file with one ``[[imap]]`` table polling ``server`` (a Dovecot peer)."""
    lines = [
        "[[imap]]",
        'name = "inbox"',
        f'host = "{server.host}"',
        f"port = {server.port}",
        'security = "plain"',
        f'username = "{server.user}"',
        f'password = "{server.password}"',
        f'profile = "{profile}"',
        "poll_seconds = 1",
        *(f"{key} = {value}" for key, value in extra.items()),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
