"""The composition root: ``uketsuke run`` wires storage, the doors and the processor process
(which runs the pipeline, the scheduler and the responder's outbox).

A daemon systemd understands (STYLE 10): READY=1 only after the sockets are bound and the
processor process started; on SIGTERM/SIGINT, STOPPING=1 and a bounded drain; a second signal
exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from intake import db
from intake.channels.imap import ImapPoller
from intake.channels.smtp import start_smtp_server
from intake.config import Config
from intake.processor_handle import ProcessorProcess
from intake.spool import spool_dir, sweep_temporary
from intake.systemd import notify

GIL_SWITCH_SECONDS = 0.0005

log = logging.getLogger("uketsuke")

DRAIN_SECONDS = 20


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


def _start_pollers(
    config: Config,
    sessions: sessionmaker[Session],
    on_stored: Callable[[int], None],
    pollers_stop: threading.Event,
) -> list[threading.Thread]:
    """One started thread per IMAP mailbox, each polling until ``pollers_stop`` is set."""
    # The lease owner survives a restart of this instance (same host, same home), so a daemon
    # killed with -9 retakes its mailboxes at once instead of waiting for its own lease to expire.
    instance = f"{socket.gethostname()}:{Path(config.home).resolve()}"
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


def _start_web(config: Config, sessions: sessionmaker[Session]):  # noqa: ANN202
    """The web forms and dashboard in a thread of this process, bound before READY=1."""
    from intake.web import create_app
    from intake.web.server import WebServer, urls

    server = WebServer(create_app(config, sessions), config.web.host, config.web.port)
    server.start()
    base = config.web.public_url.rstrip("/") or f"http://{server.host}:{server.port}"
    log.info("%s", urls(base, list(config.profiles)))
    return server


async def serve(config: Config, web: bool = True) -> int:
    # The group-commit thread holds the database's write turn while it waits for the GIL
    # between statements; the event loop thread gives the GIL up after this interval (default
    # 5 ms), so a short one keeps every writer's wait for the turn short.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
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
    web_server = _start_web(config, sessions) if web else None
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
    pollers_stop.set()
    if web_server is not None:
        await asyncio.to_thread(web_server.close)
    await smtp.close()
    for poller in pollers:
        await asyncio.wait_for(asyncio.to_thread(poller.join), DRAIN_SECONDS)
    await asyncio.to_thread(processor.close, DRAIN_SECONDS)
    engine.dispose()
    log.info("uketsuke stopped")
    return 0


def run(config: Config, web: bool = True) -> int:
    """Start the daemon; raises SchemaNotReady when the database is not usable."""
    os.makedirs(config.home, exist_ok=True)
    check_schema(config)
    return asyncio.run(serve(config, web))
