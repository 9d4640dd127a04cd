"""The composition root: ``uketsuke run`` wires storage, the doors and the processor process
(which runs the pipeline, the scheduler and the responder's outbox), and supervises the
processor (docs/architecture.md, "Supervision").

A daemon systemd understands (docs/operations.md): READY=1 only after the sockets are bound and
the processor process started; on SIGTERM/SIGINT, STOPPING=1 and a drain bounded by
DRAIN_SECONDS whatever state the processor is in; a second signal exits at once. When the
processor keeps dying, the daemon logs one error line and exits 1 (systemd restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from intake import alarmwatch, db
from intake.channels.imap import ImapPoller
from intake.channels.smtp import start_smtp_server
from intake.config import Config
from intake.private import narrow
from intake.processor_handle import GaveUp, ProcessorProcess
from intake.spool import spool_dir, sweep_temporary
from intake.systemd import notify, watchdog_seconds

log = logging.getLogger("uketsuke")

DRAIN_SECONDS = 20
SUPERVISE_SECONDS = 1.0


class SchemaNotReady(Exception):
    pass


def check_schema(config: Config) -> None:
    """Refuse to start on a database without the current schema (make run migrates first)."""
    engine = db.make_engine(config.effective_database_url)
    try:
        current = db.current_revision(engine)
    except OperationalError as exc:
        raise SchemaNotReady(f"database unavailable: {exc.orig}") from None
    finally:
        engine.dispose()
    if current is None:
        raise SchemaNotReady("the database has no schema yet: run `uketsuke init-db`")


def _stop_on_signals(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    """An event set by the first SIGTERM/SIGINT (drain); a second signal exits at once."""
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            log.warning("second signal: exiting at once")
            os._exit(1)
        log.info("signal %s: draining", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    return stop


def instance_name(config: Config) -> str:
    """This instance among several on one database: its host and home. The IMAP lease owner
    survives a restart of this instance (same host, same home), so a daemon killed with -9
    retakes its mailboxes at once instead of waiting for its own lease to expire."""
    return f"{socket.gethostname()}:{Path(config.home).resolve()}"


def _start_pollers(
    config: Config,
    sessions: sessionmaker[Session],
    on_stored: Callable[[int], None],
    pollers_stop: threading.Event,
) -> list[threading.Thread]:
    """One started thread per IMAP mailbox, each polling until ``pollers_stop`` is set."""
    instance = instance_name(config)
    pollers = [
        threading.Thread(
            target=ImapPoller(
                mailbox,
                sessions,
                config.default_profile,
                on_stored,
                owner=instance,
                spool=spool_dir(config.home_path),
            ).run,
            args=(pollers_stop,),
            name=f"imap-{mailbox.name}",
            daemon=True,
        )
        for mailbox in config.imap
    ]
    for poller in pollers:
        poller.start()
    return pollers


def _start_web(  # noqa: ANN202
    config: Config, sessions: sessionmaker[Session], processor: ProcessorProcess
):
    """The web forms and dashboard in a thread of this process, bound before READY=1."""
    from intake.web import create_app
    from intake.web.server import WebServer, urls

    app = create_app(
        config,
        sessions,
        liveness=lambda: processor.liveness().problem,
        restarts=lambda: processor.restarts,
    )
    server = WebServer(app, config.web.host, config.web.port)
    server.start()
    base = config.web.public_url.rstrip("/") or f"http://{server.host}:{server.port}"
    log.info("%s", urls(base, list(config.profiles)))
    return server


async def _supervise(
    processor: ProcessorProcess, home: Path, stop: asyncio.Event, failed: list[str]
) -> None:
    """Every second: restart a dead or stalled processor, publish its liveness for
    ``uketsuke status``; give up (stop, exit 1) when it keeps dying. Under systemd's watchdog
    (``WatchdogSec=``), WATCHDOG=1 goes out only from here — so only while this event loop
    answers — and only while the processor is alive with a fresh heartbeat: a daemon whose
    loop or processor is stuck is killed and restarted by systemd."""
    watchdog = watchdog_seconds()
    pinged = 0.0
    while not stop.is_set():
        try:
            processor.check()
        except GaveUp as exc:
            failed.append(str(exc))
            stop.set()
            return
        try:
            processor.publish(home)
        except OSError as exc:
            log.warning("could not write the processor state file (%s)", exc.strerror)
        now = time.monotonic()
        due = watchdog is not None and now - pinged >= watchdog
        if due and processor.liveness().problem is None:
            notify("WATCHDOG=1")
            pinged = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SUPERVISE_SECONDS)


def _exit_if_stuck(seconds: float) -> threading.Timer:
    """The drain's hard limit: whatever part is stuck, the daemon is gone in ``seconds``."""

    def give_up() -> None:
        log.error("stopping took longer than %.0f s; exiting now", seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer


async def serve(config: Config, web: bool = True) -> int:
    stop = _stop_on_signals(asyncio.get_running_loop())
    # The doors' commits never checkpoint the WAL (no stall before a 250); the processor does.
    engine = db.make_engine(config.effective_database_url, autocheckpoint=False)
    sessions = db.session_factory(engine)
    if swept := sweep_temporary(spool_dir(config.home_path)):
        log.info("removed %d partial spool file(s) of transfers cut off earlier", swept)
    processor = ProcessorProcess(config)
    processor.start()
    smtp = await start_smtp_server(config, sessions, on_stored=processor.notify)
    pollers_stop = threading.Event()
    pollers = _start_pollers(config, sessions, processor.notify, pollers_stop)
    web_server = _start_web(config, sessions, processor) if web else None
    alarmwatch.start(config, sessions, instance_name(config), processor.liveness, pollers_stop)
    failed: list[str] = []
    processor.publish(config.home_path)  # `uketsuke status` sees it from READY=1 on
    supervisor = asyncio.create_task(_supervise(processor, config.home_path, stop, failed))
    notify("READY=1")
    log.info(
        "uketsuke ready: smtp %s:%s, %d IMAP mailbox(es), home %s",
        smtp.host,
        smtp.port,
        len(pollers),
        config.home,
    )
    await stop.wait()
    notify("STOPPING=1")
    if failed:
        log.error("%s", failed[0])
    deadline = _exit_if_stuck(DRAIN_SECONDS + 10)
    started = time.monotonic()
    await supervisor
    processor.stop()  # each processor finishes its batch while the doors close
    pollers_stop.set()
    if web_server is not None:
        await asyncio.to_thread(web_server.close)
    await smtp.close()
    for poller in pollers:
        left = DRAIN_SECONDS - (time.monotonic() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(poller.join), max(left, 0.1))
    left = DRAIN_SECONDS - (time.monotonic() - started)
    await asyncio.to_thread(processor.close, max(left, 1.0))
    engine.dispose()
    deadline.cancel()
    with contextlib.suppress(OSError):
        processor.publish(config.home_path)
    log.info("uketsuke stopped")
    return 1 if failed else 0


def run(config: Config, web: bool = True) -> int:
    """Start the daemon; raises SchemaNotReady when the database is not usable."""
    os.makedirs(config.home, mode=0o700, exist_ok=True)
    check_schema(config)
    if changed := narrow(config.home_path, config.sqlite_path):
        log.info("made %d file(s) or folder(s) of an earlier version private (0600/0700)", changed)
    return asyncio.run(serve(config, web))
