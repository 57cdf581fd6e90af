"""Real parts for the bridge tests: brokers, ``celery worker`` and relay processes.

A service that does not answer skips the tests that need it, saying what is
missing; with ``CI=true`` it fails them instead. Workers and relays are
subprocesses of this interpreter, started against the test database (so
PostgreSQL: a subprocess cannot see an in-memory SQLite database) and ended
by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.db import connection
from django.test import override_settings

from django_typed_signals.bridge import _publish

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TYPED_SIGNALS_TEST_REDIS", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get(
    "TYPED_SIGNALS_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//"
)


def missing(what: str) -> None:
    """Skip (fail under CI) a test whose service is missing, saying which."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: a missing service fails the run)")
    pytest.skip(what)


def answers(host: str, port: int, hello: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(2)
            sock.sendall(hello)
            return sock.recv(16).startswith(expect)
    except OSError:
        return False


def _require(url: str, what: str, port: int, hello: bytes, expect: bytes) -> str:
    """``url`` when its server answers ``hello`` with ``expect``; else missing()."""
    from kombu.utils.url import url_to_parts

    parts = url_to_parts(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or port
    if not answers(host, port, hello, expect):
        missing(f"needs {what} at {host}:{port}")
    return url


def require_redis(url: str = REDIS_URL) -> str:
    return _require(
        url, "Redis (TYPED_SIGNALS_TEST_REDIS)", 6379, b"PING\r\n", b"+PONG"
    )


def require_rabbitmq(url: str = RABBITMQ_URL) -> str:
    # Any Connection.Start method frame (b"\x01") answers the protocol header.
    return _require(
        url,
        "RabbitMQ (TYPED_SIGNALS_TEST_RABBITMQ)",
        5672,
        b"AMQP\x00\x00\x09\x01",
        b"\x01",
    )


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        missing(
            "needs PostgreSQL: a worker process cannot see an in-memory SQLite "
            "database (TYPED_SIGNALS_TEST_DB=postgres; the -pg tox environments "
            "run these tests)"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """Where the test process publishes and the workers consume."""

    url: str
    queue: str = field(default_factory=lambda: f"dts-test-{uuid.uuid4().hex[:12]}")
    bridge: Mapping[str, Any] = field(default_factory=dict[str, Any])

    def settings(self) -> dict[str, Any]:
        """``TYPED_SIGNALS`` for both sides."""
        return {"BRIDGE": {"EXECUTOR": "celery", **self.bridge}}

    def env(self) -> dict[str, str]:
        """The environment of a worker or relay subprocess: the test project's
        app publishes there (as ``proj/__init__.py`` would import it)."""
        typed_signals = self.settings()
        typed_signals["BRIDGE"]["CELERY_APP"] = "tests.proj.celery.app"
        db = connection.settings_dict
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TYPED_SIGNALS_TEST_DB": "postgres",
            "PGDATABASE": str(db["NAME"]),
            "PGHOST": str(db["HOST"] or "127.0.0.1"),
            "PGPORT": str(db["PORT"] or "5432"),
            "PGUSER": str(db["USER"] or "postgres"),
            "TYPED_SIGNALS_TEST_CONN_MAX_AGE": "60",
            "TYPED_SIGNALS_TEST_BROKER": self.url,
            "TYPED_SIGNALS_TEST_QUEUE": self.queue,
            "TYPED_SIGNALS_TEST_SETTINGS": json.dumps(typed_signals),
            "PYTHONPATH": str(ROOT),
        }


@contextlib.contextmanager
def publishing_to(broker: Broker) -> Iterator[Celery]:
    """Make this process publish to ``broker``, as the project's app would."""
    from celery import _state

    previous: Any = getattr(_state, "default_app")  # noqa: B009  # not in the stubs
    app = Celery("tests-publisher", set_as_current=False)
    app.conf.update(
        broker_url=broker.url,
        task_default_queue=broker.queue,
        broker_connection_timeout=2,
        broker_transport_options={"socket_timeout": 2, "socket_connect_timeout": 2},
    )
    # The default for every thread: the bridge publishes from its own.
    app.set_default()
    # A failure in an earlier test must not keep this one off the broker.
    publisher = _publish._thread  # pyright: ignore[reportPrivateUsage]
    if publisher is not None:
        publisher.resting_until = 0.0
    try:
        with override_settings(TYPED_SIGNALS=broker.settings()):
            yield app
    finally:
        _state.set_default_app(previous)
        app.close()


class Process:
    """A subprocess whose output a thread keeps reading (a worker whose pipe
    is full blocks), line by line, while it runs."""

    def __init__(self, argv: list[str], env: Mapping[str, str], name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_all, daemon=True)
        self._reader.start()

    def _read_all(self) -> None:
        stdout = self.popen.stdout
        assert stdout is not None
        for line in stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            lines = self.lines[seen:]
            if any(text in line for line in lines):
                return
            seen += len(lines)
            if self.popen.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(
            f"{self.name} did not print {text!r} within {timeout_s}s; its output:\n"
            + self.output()
        )

    def output(self) -> str:
        """Its last 80 lines so far."""
        return "\n".join(self.lines[-80:])

    def end(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
        """Send ``sig`` to the process by pid; its exit code (killed if it hangs)."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._reader.join(5)
        return self.popen.returncode


@contextlib.contextmanager
def worker(
    broker: Broker, *, name: str = "w1", queues: tuple[str, ...] = ()
) -> Iterator[Process]:
    """A real ``celery -A tests.proj worker`` (solo pool) consuming ``broker``."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.proj",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{name}-{broker.queue}@%h",
        "-Q",
        ",".join((broker.queue, *queues)),
    ]
    process = Process(argv, broker.env(), f"worker {name}")
    try:
        process.wait_for("ready.", timeout_s=30)
        yield process
    finally:
        # Cold shutdown, then SIGKILL: its work is checked already, and on
        # AMQP a worker that consumed waits ~10 s for its connection to close.
        process.end(signal.SIGQUIT, timeout_s=3)


@contextlib.contextmanager
def relay(broker: Broker, *args: str) -> Iterator[Process]:
    """A real ``manage.py signal_relay`` process."""
    argv = [sys.executable, "-m", "django", "signal_relay", *args]
    process = Process(argv, broker.env(), "signal_relay")
    try:
        process.wait_for("signal_relay: started", timeout_s=30)
        yield process
    finally:
        process.end()


def wait_until(
    condition: Any,
    timeout_s: float,
    what: str,
    *,
    every_s: float = 0.05,
    process: Process | None = None,
) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after the
    timeout, with the output of ``process`` and the delivery rows."""
    from django_typed_signals.models import Delivery

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every_s)
    rows = "\n".join(str(row) for row in Delivery.objects.all()[:20])
    output = f"\n{process.name} printed:\n{process.output()}" if process else ""
    raise AssertionError(f"not within {timeout_s}s: {what}\nrows:\n{rows}{output}")


__all__ = [
    "RABBITMQ_URL",
    "REDIS_URL",
    "Broker",
    "Process",
    "free_port",
    "missing",
    "publishing_to",
    "relay",
    "require_postgres",
    "require_rabbitmq",
    "require_redis",
    "wait_until",
    "worker",
]


class PrivateRedis:
    """A ``redis-server`` of one test's own, on a free port, without persistence.

    Killing it loses every message it held, as a broker restarted without AOF
    or RDB would; the shared Redis the other tests use is never touched.
    """

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process: Process | None = None

    def up(self) -> bool:
        return answers("127.0.0.1", self.port, b"PING\r\n", b"+PONG")

    def start(self, timeout_s: float = 10) -> None:
        """Start it on its port (again, after ``kill()``), empty."""
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        self.process = Process(argv, os.environ, f"redis-server :{self.port}")
        deadline = time.monotonic() + timeout_s
        while not self.up():
            if self.process.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"redis-server did not answer on port {self.port} within "
                    f"{timeout_s}s; its output:\n{self.process.output()}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; everything it held is gone."""
        if self.process is not None:
            self.process.end(signal.SIGKILL)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nothing answers them."""
        assert self.process is not None, "freeze() needs a started server"
        os.kill(self.process.popen.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None, "thaw() needs a started server"
        os.kill(self.process.popen.pid, signal.SIGCONT)

    def queue_length(self, queue: str) -> int:
        """How many messages wait in ``queue`` (kombu keeps a list per queue)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        try:
            return int(client.llen(queue))
        finally:
            client.close()


@contextlib.contextmanager
def private_redis(directory: Path) -> Generator[PrivateRedis, None, None]:
    """A started ``PrivateRedis`` (skips when there is no ``redis-server``),
    killed at the end whatever the test did to it."""
    import shutil

    if shutil.which("redis-server") is None:
        missing("needs the redis-server program on PATH for a private broker")
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


__all__ += ["PrivateRedis", "private_redis"]
