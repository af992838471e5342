"""Real Agorax processes for tests: the API under uvicorn and the fan-out worker, on free ports.

Each process runs in its own session (process group) with its output in a log file, gets SIGTERM from the
kernel if the test process dies (PR_SET_PDEATHSIG), and is killed at interpreter exit at the latest, so a
test run never leaves processes behind. Fault tests can `kill()` (SIGKILL), `pause()`/`resume()`
(SIGSTOP/SIGCONT) or `restart(...)` with other settings. `TcpProxy` puts a cuttable link between a
client and a real service, to make that service "go away" and "come back" without touching it.

    with ApiProcess(log_dir, env={"AGORAX_RUN_RELAY": "true"}) as api:   # started and ready
        httpx.get(f"{api.base_url}/api/health")
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import aio_pika
import httpx

from backend.events.rabbitmq import Topology

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

_live: dict[int, subprocess.Popen[bytes]] = {}


def private_namespace(purpose: str) -> str:
    """A RABBITMQ_NAMESPACE of a test's own, so that no other run's worker takes its messages."""
    return f"agorax-{purpose}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


async def delete_namespace(rabbitmq_url: str, namespace: str) -> None:
    """Delete a private namespace's queues and exchanges (best effort: RabbitMQ may be the thing down)."""
    topology = Topology(namespace)
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(rabbitmq_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            for queue in (topology.queue, topology.dead_letter_queue):
                await channel.queue_delete(queue)
            for exchange in (topology.exchange, topology.dead_letter_exchange):
                await channel.exchange_delete(exchange)


def free_port() -> int:
    """A TCP port nothing listens on right now (also handy as a 'service is down' address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@atexit.register
def _kill_leftovers() -> None:
    for pid, process in list(_live.items()):
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        _live.pop(pid, None)


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what or condition!r}")
        time.sleep(interval)


class ManagedProcess:
    """One subprocess with environment overrides on top of this process's environment (a value of None
    removes the variable). Subclasses define readiness."""

    name = "process"
    # Exit statuses of a graceful shutdown after `stop()`.
    CLEAN_EXIT: frozenset[int] = frozenset({0})

    def __init__(self, log_dir: Path, *, env: Mapping[str, str | None] | None = None) -> None:
        self.log_dir = log_dir
        self.env: dict[str, str | None] = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / f"{self.name}-{id(self):x}.log"
        self._log_offset = 0
        self.starts = 0

    # -- to override -------------------------------------------------------------------------------------

    def argv(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        return True

    # -- life cycle ----------------------------------------------------------------------------------------

    def spawn(self) -> None:
        """Start without waiting for readiness (the process gets a fresh section of the log)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for key, value in self.env.items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"---- start #{self.starts + 1}: {' '.join(self.argv())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv(),
                cwd=REPO_ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # spawned from the test thread only
            )
        _live[self.process.pid] = self.process
        self.starts += 1

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if not self.running:
                raise RuntimeError(
                    f"{self.name} exited with {self.returncode} before it was ready:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.05)

    def start(self, timeout: float = 30.0) -> Self:
        self.spawn()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited after `timeout`; returns the exit status."""
        return self._signal_and_wait(signal.SIGTERM, timeout)

    @property
    def exited_cleanly(self) -> bool:
        return self.returncode in self.CLEAN_EXIT

    def kill(self) -> int:
        return self._signal_and_wait(signal.SIGKILL, 10.0)

    def restart(self, *, env: Mapping[str, str | None] | None = None, timeout: float = 30.0) -> Self:
        self.stop()
        self.env.update(env or {})
        return self.start(timeout)

    def pause(self) -> None:
        self._send(signal.SIGSTOP)

    def resume(self) -> None:
        self._send(signal.SIGCONT)

    async def astart(self, within: float = 30.0) -> Self:
        """`start` for async tests: the spawn happens on this thread, the waiting off the event loop."""
        self.spawn()
        try:
            await asyncio.to_thread(self.wait_ready, within)
        except BaseException:
            self.kill()
            raise
        return self

    async def astop(self, grace: float = 10.0) -> int:
        return await asyncio.to_thread(self.stop, grace)

    async def arestart(self, *, env: Mapping[str, str | None] | None = None, within: float = 30.0) -> Self:
        """`restart` for async tests (the new process is spawned on this thread, as `astart` does)."""
        await self.astop()
        self.env.update(env or {})
        return await self.astart(within)

    # -- state -----------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log(self) -> str:
        """Output of the current (or last) run."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, *, count: int = 1, timeout: float = 30.0) -> None:
        what = f"{count}x {text!r} in the {self.name} log"
        wait_until(lambda: self.log().count(text) >= count, timeout=timeout, what=what)

    async def await_log(self, text: str, *, count: int = 1, within: float = 30.0) -> None:
        await asyncio.to_thread(self.wait_for_log, text, count=count, timeout=within)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------------------

    def _send(self, sig: signal.Signals) -> None:
        if self.running and self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> int:
        process = self.process
        if process is None:
            raise RuntimeError(f"{self.name} was never started")
        if process.poll() is None:
            if sig != signal.SIGKILL:
                self._send(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            self._send(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._send(signal.SIGKILL)
                process.wait(timeout=10)
        _live.pop(process.pid, None)
        return process.returncode


class ApiProcess(ManagedProcess):
    """`uvicorn backend.api.main:app` on a free port; ready once /api/health answers (200 or 503)."""

    name = "api"
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal, so its status is -SIGTERM.
    CLEAN_EXIT = frozenset({0, -signal.SIGTERM})

    def __init__(
        self, log_dir: Path, *, env: Mapping[str, str | None] | None = None, port: int | None = None
    ) -> None:
        super().__init__(log_dir, env=env)
        self.port = port or free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            PYTHON,
            "-m",
            "uvicorn",
            "backend.api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
        ]

    def is_ready(self) -> bool:
        try:
            response = httpx.get(f"{self.base_url}/api/health", timeout=5.0)
        except httpx.TransportError:
            return False
        return response.status_code in (200, 503)


class WorkerProcess(ManagedProcess):
    """`python -m backend.events.worker` (on the shared queue, or `queue`: a private one); ready once it logs
    that it consumes."""

    name = "worker"
    READY_LINE = "worker_started"

    def __init__(
        self, log_dir: Path, *, env: Mapping[str, str | None] | None = None, queue: str | None = None
    ) -> None:
        super().__init__(log_dir, env=env)
        self.queue = queue

    def argv(self) -> list[str]:
        return [PYTHON, "-m", "backend.events.worker", *(["--queue", self.queue] if self.queue else [])]

    def is_ready(self) -> bool:
        return self.READY_LINE in self.log()


class TcpProxy:
    """A TCP forwarder from a free local port to a real service, running on the current event loop.

    `cut()` resets every open connection and refuses new ones (to a client: the service went away);
    `restore()` accepts again on the same port (it came back)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        return self

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()  # RST, as when the service dies
        self._links.clear()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._links.update((client_writer, upstream_writer))
        for reader, writer in ((client_reader, upstream_writer), (upstream_reader, client_writer)):
            pump = asyncio.create_task(self._pump(reader, writer))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()  # the other side closed: pass the FIN on
        except OSError:
            writer.transport.abort()
        finally:
            self._links.discard(writer)
