"""The SMTP door on its own thread and event loop: how the tests run it (bench scripts may too)."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from intake.channels.smtp import IntakeHandler, serve_smtp


class ThreadedSmtpServer:
    """The same door on its own thread and event loop, for tests and bench scripts.

    Like aiosmtpd's ``Controller``: ``with ThreadedSmtpServer(handler) as server:`` then send to
    ``server.port``; leaving the block closes the server and joins the thread.
    """

    def __init__(
        self,
        handler: IntakeHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_timeout: float = 10.0,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._ready_timeout = ready_timeout
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: Exception | None = None

    def __enter__(self) -> ThreadedSmtpServer:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="smtp")
        self._thread.start()
        if not self._ready.wait(self._ready_timeout):
            raise TimeoutError("the SMTP server did not start in time")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            server = await serve_smtp(self.handler, self.host, self.port)
        except Exception as exc:  # handed to the thread that called __enter__
            self._error = exc
            self._ready.set()
            return
        self.host, self.port = server.host, server.port
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()
