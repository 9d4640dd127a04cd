"""A real, private Dovecot IMAP server for tests (issue: real peers, never mocks).

Each :class:`DovecotServer` writes its own ``dovecot.conf`` and runs ``dovecot -c FILE`` on
127.0.0.1 on a free port, with its own base_dir/state_dir/log and one passwd-file user whose mail
is in ``~/Maildir``. Nothing of the system's Dovecot (``/etc/dovecot``, ``/run/dovecot``) is used.

Install the binary with ``tests/peers/install-peers.sh`` (Debian: ``dovecot-imapd``).

Fixtures (register them in ``tests/conftest.py``)::

    from tests.peers.dovecot import dovecot, fresh_dovecot, fresh_dovecot_tls  # noqa: F401

* ``dovecot`` -- one plaintext server for the whole session (shared state: give each test its
  own folder or Message-IDs, or call :meth:`DovecotServer.reset`).
* ``fresh_dovecot`` -- a server of its own for one test: for tests that restart, stop, kick or
  recreate mailboxes.
* ``fresh_dovecot_tls`` -- the same with TLS (imaps on ``tls_port``, STARTTLS on ``port``).

Without the ``dovecot`` binary the fixtures skip, unless ``UKETSUKE_REQUIRE_PEERS=1``, where
they fail.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import grp
import imaplib
import itertools
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal

import pytest
from imapclient import IMAPClient, imap_utf7

__all__ = [
    "ConnectionDropped",
    "DovecotError",
    "DovecotServer",
    "dovecot",
    "dovecot_binary",
    "dovecot_fixture",
    "fresh_dovecot",
    "fresh_dovecot_tls",
    "require_dovecot",
]

_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
_counter = itertools.count()
_RUNTIME_PREFIX = "uketsuke-dovecot-"
# Maildir file names: "/" and ":" in the host name are escaped (maildir(5)).
_maildir_host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
ClientMode = Literal["plain", "starttls", "imaps"]

#: What the next command on an IMAPClient raises after the server dropped the connection
#: (imaplib's abort, e.g. "socket error: EOF", or an OSError such as a reset).
ConnectionDropped: tuple[type[BaseException], ...] = (imaplib.IMAP4.abort, OSError)


class DovecotError(RuntimeError):
    """The private Dovecot could not be started, stopped or driven."""


def dovecot_binary() -> str | None:
    """Path of the ``dovecot`` master binary, or None when it is not installed."""
    if shutil.which("doveadm", path=_SBIN_PATH) is None:
        return None
    return shutil.which("dovecot", path=_SBIN_PATH)


def require_dovecot() -> str:
    """Return the ``dovecot`` binary; skip the test without it (fail if peers are required)."""
    binary = dovecot_binary()
    if binary is None:
        message = "dovecot-imapd not installed (run tests/peers/install-peers.sh as root)"
        if os.environ.get("UKETSUKE_REQUIRE_PEERS") == "1":
            pytest.fail(f"UKETSUKE_REQUIRE_PEERS=1 but {message}", pytrace=False)
        pytest.skip(message)
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the test process dies (Linux prctl)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _remove_stale_runtime_dirs() -> None:
    """Remove runtime dirs left by test processes that died without cleaning up."""
    for path in Path(tempfile.gettempdir()).glob(f"{_RUNTIME_PREFIX}*-*"):
        pid = path.name[len(_RUNTIME_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _proc_start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return None


def descendants(root: int) -> dict[int, str | None]:
    """Map pid -> start time of every process below ``root`` (Linux /proc only)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[-1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str | None] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = _proc_start_time(pid)
        todo.extend(children.get(pid, []))
    return found


class DovecotServer:
    """A private Dovecot 2.3 IMAP server on 127.0.0.1 (context manager).

    ``directory`` holds the config, log and TLS certificate. The mail home, passwd file and
    Dovecot's sockets live in a short private directory under the system temp dir, because
    the user's and the auth processes run as ``nobody``/``dovecot`` and must reach them
    (pytest's tmp dirs are 0700), and because UNIX socket paths are limited to 108 bytes. It
    is removed by :meth:`close` (and stale ones of dead test processes at the next start).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        directory: Path | str,
        *,
        tls: bool = False,
        user: str = "uketsuke",
        password: str = "uketsuke-test-pw",
        start_timeout: float = 10.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.user = user
        self.password = password
        self.start_timeout = start_timeout
        self.port = 0
        self.tls_port: int | None = None
        self.config_path = self.directory / "dovecot.conf"
        self.log_path = self.directory / "dovecot.log"
        self.output_path = self.directory / "dovecot.out"
        self.cert_path = self.directory / "cert.pem"
        self.key_path = self.directory / "key.pem"
        self.instance_name = f"uketsuke-test-{os.getpid()}-{next(_counter)}"
        self._runtime: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._clients: list[IMAPClient] = []
        self._binary = dovecot_binary()
        if self._binary is None:
            raise DovecotError("dovecot-imapd not installed")
        self._doveadm = shutil.which("doveadm", path=_SBIN_PATH) or "doveadm"
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()

    # -- paths ----------------------------------------------------------------------------

    @property
    def runtime_dir(self) -> Path:
        if self._runtime is None:
            raise DovecotError("server was never started")
        return self._runtime

    @property
    def home(self) -> Path:
        return self.runtime_dir / "home" / self.user

    @property
    def maildir(self) -> Path:
        """The user's Maildir (INBOX); other folders are ``maildir / ".Name"`` (Maildir++)."""
        return self.home / "Maildir"

    @property
    def passwd_path(self) -> Path:
        """The passwd-file (read by the auth process, which runs as the ``dovecot`` user)."""
        return self.runtime_dir / "passwd"

    @property
    def base_dir(self) -> Path:
        return self.runtime_dir / "run"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def folder_path(self, folder: str = "INBOX") -> Path:
        """Directory of ``folder`` in the Maildir++ layout (separator ``.``)."""
        if folder.upper() == "INBOX":
            return self.maildir
        return self.maildir / ("." + imap_utf7.encode(folder).decode("ascii"))

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _prepare(self) -> None:
        if self._runtime is None:
            _remove_stale_runtime_dirs()
            self._runtime = Path(tempfile.mkdtemp(prefix=f"{_RUNTIME_PREFIX}{os.getpid()}-"))
            self._runtime.chmod(0o755)
            atexit.register(self.close)
        state_dir = self.runtime_dir / "state"
        state_dir.mkdir(exist_ok=True)
        for path in (self.home.parent, self.home, self.maildir):
            path.mkdir(exist_ok=True)
        self.home.parent.chmod(0o755)
        self._ensure_folder_dirs(self.maildir)
        self._chown_tree(self.home)
        self.passwd_path.write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{self.uid}:{self.gid}::{self.home}::\n"
        )
        self.passwd_path.chmod(0o644)  # a throw-away test password
        if self.tls and not self.cert_path.exists():
            self._make_certificate()

    def _make_certificate(self) -> None:
        cmd = [
            "openssl", "req", "-x509", "-nodes", "-days", "30",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(self.key_path), "-out", str(self.cert_path),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DovecotError(f"openssl req failed: {result.stderr.strip()}")
        self.key_path.chmod(0o600)

    def _write_config(self) -> None:
        root = os.geteuid() == 0
        imaps_port = self.tls_port if self.tls and self.tls_port else 0
        if root:
            users = ""
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            users = (
                f"default_login_user = {me}\n"
                f"default_internal_user = {me}\n"
                f"default_internal_group = {grp.getgrgid(os.getgid()).gr_name}\n"
                "service imap-login {\n  chroot =\n}\n"
                "service auth-worker {\n  user = $default_internal_user\n}\n"
            )
        if self.tls:
            ssl_lines = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.key_path}\n"
        else:
            ssl_lines = "ssl = no\n"
        self.config_path.write_text(
            f"""# Written by tests/peers/dovecot.py -- a private test server, not the system one.
instance_name = {self.instance_name}
base_dir = {self.base_dir}
state_dir = {self.runtime_dir / "state"}
log_path = {self.log_path}
protocols = imap
listen = 127.0.0.1
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login
# A failed login is answered at once, not after Dovecot's default 2 s, and the next login from
# 127.0.0.1 is not delayed either (the anvil-auth-penalty listener off, below): tests fail logins
# on purpose, and both guard a public server against guessing, not this private one.
auth_failure_delay = 0
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mailbox_idle_check_interval = 1 secs
login_greeting = uketsuke test Dovecot ready.
shutdown_clients = yes
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_path}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.passwd_path}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{users}"""
        )

    def start(self) -> None:
        """Start the server; keeps the port it had before (restart), else picks a free one."""
        if self.running:
            return
        self._prepare()
        keep_port = self.port != 0
        attempts = 5
        for attempt in range(attempts):
            if not keep_port:
                self.port = _free_port()
                if self.tls:
                    self.tls_port = _free_port()
                    while self.tls_port == self.port:
                        self.tls_port = _free_port()
            self._write_config()
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            # -F: the master stays our child, so we reap it at once when it stops (a daemonised
            # master is re-parented to PID 1, which may reap late: doveadm stop then waits 3 s).
            with self.output_path.open("ab") as output_file:
                self._proc = subprocess.Popen(
                    [self._binary or "dovecot", "-F", "-c", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=output_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            try:
                self._wait_ready()
                return
            except DovecotError as exc:
                failure = exc
            self._kill_everything()
            output = self._log_since(log_start) + self._output_tail()
            if "Address already in use" not in output or attempt == attempts - 1:
                raise DovecotError(f"{failure}\n{output}") from None
            time.sleep(0.3 if keep_port else 0.01)

    def _output_tail(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log(self) -> str:
        """The server's log so far (useful in assertion messages)."""
        return self._log_since(0)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DovecotError(f"dovecot exited with status {self._proc.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    greeting = sock.recv(512)
                if greeting.startswith(b"* OK"):
                    return
                last_error = f"unexpected greeting {greeting!r}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.005)
        raise DovecotError(
            f"dovecot on port {self.port} not ready after {self.start_timeout}s ({last_error})"
        )

    def stop(self) -> None:
        """Stop the server at once, as a dropped server: open clients see EOF/BYE.

        Clients made by :meth:`client` are left as they are (their next command fails, as a
        poller's would); :meth:`close` closes them. Not ``doveadm stop``: it signals only the
        master, which then idles up to a second before exiting. Here SIGTERM goes to the whole
        process group (the master runs in a session of its own), so every process gets it at
        once; leftovers, and a master still waiting after 0.1 s, get SIGKILL.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            tree = descendants(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            self._kill_leftovers(tree)
            # With its children gone the master may still idle ~1 s in its shutdown wait
            # (about half the time): give it a moment, then SIGKILL it.
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        else:
            proc.wait()
        if self._runtime is not None:
            with contextlib.suppress(OSError):
                (self.base_dir / "master.pid").unlink()

    def _kill_leftovers(self, tree: dict[int, str | None]) -> None:
        deadline = time.monotonic() + 2.0
        for child, started in tree.items():
            while (
                _pid_alive(child)
                and _proc_start_time(child) == started
                and time.monotonic() < deadline
            ):
                time.sleep(0.005)
            if _pid_alive(child) and _proc_start_time(child) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)

    def _kill_everything(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        tree = descendants(proc.pid) if proc.poll() is None else {}
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for child, started in tree.items():
            if _proc_start_time(child) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)

    def restart(self, downtime: float = 0.0) -> None:
        """Stop, wait ``downtime`` seconds, start again on the same port (a dropped server)."""
        self.stop()
        if downtime:
            time.sleep(downtime)
        self.start()

    def close(self) -> None:
        """Stop the server, close its clients, remove its runtime directory (idempotent)."""
        try:
            self.stop()
            self._close_clients()
        finally:
            if self._runtime is not None:
                atexit.unregister(self.close)
                shutil.rmtree(self._runtime, ignore_errors=True)
                self._runtime = None

    # -- driving it -----------------------------------------------------------------------

    def doveadm(self, *args: str, check: bool = True) -> str:
        """Run ``doveadm -c FILE ARGS`` against this server; returns stdout."""
        result = subprocess.run(
            [self._doveadm, "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if check and result.returncode != 0:
            raise DovecotError(
                f"doveadm {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this server's self-signed certificate."""
        if not self.tls:
            raise DovecotError("server was started without tls=True")
        return ssl.create_default_context(cafile=str(self.cert_path))

    def client(
        self,
        mode: ClientMode | None = None,
        *,
        login: bool = True,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> IMAPClient:
        """A new (logged-in) IMAPClient; ``mode`` defaults to imaps with TLS, else plain.

        Clients still open are closed by :meth:`close` (not by :meth:`stop`).
        """
        if mode is None:
            mode = "imaps" if self.tls else "plain"
        if mode != "plain" and not self.tls:
            raise DovecotError(f"client mode {mode!r} needs a server started with tls=True")
        context = ssl_context or (self.ssl_context() if mode != "plain" else None)
        if mode == "imaps":
            assert self.tls_port is not None
            client = IMAPClient(
                self.host, port=self.tls_port, ssl=True, ssl_context=context, timeout=timeout
            )
        else:
            client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
            if mode == "starttls":
                client.starttls(context)
        self._clients.append(client)
        if login:
            client.login(self.user, self.password)
        return client

    def _close_clients(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                client.shutdown()

    def _chown_tree(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        os.chown(path, self.uid, self.gid)
        for dirpath, dirnames, filenames in os.walk(path):
            for name in itertools.chain(dirnames, filenames):
                os.chown(os.path.join(dirpath, name), self.uid, self.gid, follow_symlinks=False)

    def _ensure_folder_dirs(self, folder_dir: Path) -> None:
        created = not folder_dir.exists()
        for sub in ("", "cur", "new", "tmp"):
            (folder_dir / sub).mkdir(mode=0o700, exist_ok=True)
        if created and folder_dir != self.maildir:
            # Maildir++ marks a folder as such with this (empty) file.
            (folder_dir / "maildirfolder").touch()
        if os.geteuid() == 0:
            for sub in ("", "cur", "new", "tmp", "maildirfolder"):
                target = folder_dir / sub
                if target.exists():
                    os.chown(target, self.uid, self.gid)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> Path:
        """Put a message straight into the Maildir (as an MTA/LDA would): tmp/ then new/.

        The folder is created if missing. Returns the file's path. Dovecot sees it at the next
        sync (IDLE clients are told within about a second).
        """
        if self._runtime is None:
            raise DovecotError("server was never started")
        folder_dir = self.folder_path(folder)
        self._ensure_folder_dirs(folder_dir)
        now = time.time()
        name = (
            f"{int(now)}.M{int((now % 1) * 1_000_000)}P{os.getpid()}"
            f"Q{next(_counter)}.{_maildir_host}"
        )
        tmp = folder_dir / "tmp" / name
        with tmp.open("xb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if os.geteuid() == 0:
            os.chown(tmp, self.uid, self.gid)
        tmp.chmod(0o600)
        final = folder_dir / "new" / name
        os.rename(tmp, final)
        return final

    def uidvalidity(self, folder: str = "INBOX") -> int:
        out = self.doveadm("mailbox", "status", "-u", self.user, "uidvalidity", folder)
        return int(out.strip().split("=", 1)[1])

    def recreate_mailbox(self, folder: str = "INBOX", *, keep_messages: bool = True) -> int:
        """Force a new UIDVALIDITY on ``folder``; returns it.

        ``keep_messages=True`` keeps the messages (as after a server migration or index
        rebuild: same mail, new UIDs are needed). ``keep_messages=False`` deletes and recreates
        the folder empty (INBOX, which cannot be deleted, is emptied instead). Sessions that
        have the folder selected are disconnected by Dovecot.
        """
        if not self.folder_path(folder).exists():
            self.doveadm("mailbox", "create", "-u", self.user, folder)
        old = self.uidvalidity(folder)
        if not keep_messages:
            if folder.upper() == "INBOX":
                self.doveadm("expunge", "-u", self.user, "mailbox", folder, "all")
            else:
                self.doveadm("mailbox", "delete", "-u", self.user, folder)
                self.doveadm("mailbox", "create", "-u", self.user, folder)
        new = max(old + 1, int(time.time()))
        self.doveadm("mailbox", "update", "-u", self.user, "--uid-validity", str(new), folder)
        actual = self.uidvalidity(folder)
        if actual == old:
            raise DovecotError(f"UIDVALIDITY of {folder} did not change ({old})")
        return actual

    def connected_sessions(self) -> int:
        """How many IMAP sessions of the user Dovecot currently has (``doveadm who``)."""
        out = self.doveadm("who", "-1", self.user, check=False)
        return sum(1 for line in out.splitlines() if line.split()[:1] == [self.user])

    def drop_connections(self, timeout: float = 5.0) -> None:
        """Kick every IMAP session of the user (``doveadm kick``), as a dropped connection.

        Waits until Dovecot has closed them, so the next command on an old client fails.
        """
        self.doveadm("kick", self.user, check=False)
        deadline = time.monotonic() + timeout
        while self.connected_sessions() and time.monotonic() < deadline:
            time.sleep(0.02)

    def reset(self) -> None:
        """Delete every folder and message of the user (for a shared session server)."""
        self._close_clients()
        with contextlib.suppress(DovecotError):
            self.drop_connections()
        shutil.rmtree(self.maildir, ignore_errors=True)
        self.maildir.mkdir()
        self._ensure_folder_dirs(self.maildir)
        self._chown_tree(self.home)


# -- pytest fixtures ------------------------------------------------------------------------


def dovecot_fixture(
    tmp_path_factory: pytest.TempPathFactory, *, tls: bool = False
) -> Iterator[DovecotServer]:
    """Generator behind the fixtures: a started server, closed afterwards."""
    require_dovecot()
    directory = tmp_path_factory.mktemp("dovecot-tls" if tls else "dovecot")
    with DovecotServer(directory, tls=tls) as server:
        yield server


@pytest.fixture(scope="session", name="dovecot")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """One plaintext Dovecot for the whole session (do not stop/kick it: use fresh_dovecot)."""
    yield from dovecot_fixture(tmp_path_factory)


@pytest.fixture(name="fresh_dovecot")
def fresh_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """A Dovecot of the test's own: restart, stop, kick and recreate mailboxes freely."""
    yield from dovecot_fixture(tmp_path_factory)


@pytest.fixture(name="fresh_dovecot_tls")
def fresh_dovecot_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """A Dovecot of the test's own with TLS: imaps on ``tls_port``, STARTTLS on ``port``."""
    yield from dovecot_fixture(tmp_path_factory, tls=True)
