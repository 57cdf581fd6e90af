#!/usr/bin/env python
"""The Celery bridge next to Celery's ``delay_on_commit``, with real parts.

A report, not a test. One run against PostgreSQL, Redis and real ``celery
worker`` processes (``benchmarks/bridge_project``), the same request on both
sides: ``with transaction.atomic():`` insert an order row, then send

* ours: ``placed.send(Order, Placed(order, n))``, a ``TypedSignal`` with one
  ``run="celery"`` receiver (``EXECUTOR = "celery"``);
* baseline: ``record_baseline.delay_on_commit(order.pk, n)``, a plain
  ``@shared_task``.

Both receivers load the order (ours: the payload's reference, re-read by the
bridge; the task: ``Order.objects.get``) and insert one effect row holding
``time.time()``. Measured: the request-side cost (atomic + insert + send +
commit, the publish included), commit-to-receiver latency p50/p99, and
events per second draining 10,000 queued events with 1 worker and with 4.

    python benchmarks/bridge.py               # full run: 10,000 events per side
    python benchmarks/bridge.py --quick       # 600 events, fewer repeats (CI)
    python benchmarks/bridge.py --events 300  # throughput runs of 300 events
    python benchmarks/bridge.py --profile     # and a cProfile of our request

How long a run takes depends on how fast the workers drain: see
``benchmarks/README.md`` for the times measured.

PostgreSQL (``PG*`` variables, default 127.0.0.1:5432 user postgres; database
``typed_signals_bench``, created when missing) and Redis
(``BRIDGE_BENCH_REDIS``, default ``redis://127.0.0.1:6379/5``) must answer.
When one does not, the run says so and exits 0, or 2 with ``CI=true``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import importlib
import os
import platform
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    # Benchmark the checkout this script lives in, not an installed copy.
    sys.path.insert(0, str(REPO_ROOT))

SETTINGS = "benchmarks.bridge_project.settings"
REDIS_URL = os.environ.setdefault("BRIDGE_BENCH_REDIS", "redis://127.0.0.1:6379/5")
DB_NAME = os.environ.setdefault("BRIDGE_BENCH_DB", "typed_signals_bench")
QUEUE = os.environ.setdefault(
    "BRIDGE_BENCH_QUEUE", f"dts-bench-{uuid.uuid4().hex[:10]}"
)
os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS

TARGETS = {"cost": 1.3, "p50": 1.5, "throughput": 0.7}
PACE_S = 0.005  # the latency run: one event at a time, at most one per 5 ms
SIDES = ("ours", "baseline")


@dataclass(frozen=True)
class Plan:
    requests: int  # per side per repeat of the cost run
    repeats: int
    paced: int  # events per side in the latency run
    events: int  # per side per throughput run
    rounds: int  # throughput runs per side and concurrency, taking turns


QUICK = Plan(requests=100, repeats=5, paced=60, events=600, rounds=2)
FULL = Plan(requests=300, repeats=9, paced=500, events=10_000, rounds=2)


# --------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2
        ) as sock:
            sock.settimeout(2)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pg_params() -> dict[str, str]:
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD", ""),
    }


def ensure_database() -> str | None:
    """Create the benchmark database when missing; None, or what is wrong."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    params = pg_params()
    try:
        with psycopg.connect(
            dbname="postgres",
            connect_timeout=2,
            autocommit=True,
            host=params["host"],
            port=params["port"],
            user=params["user"],
            password=params["password"],
        ) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)
            ).fetchone()
            if found is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME))
                )
    except psycopg.Error as exc:
        where = f"{params['host']}:{params['port']} user {params['user']}"
        return f"PostgreSQL at {where} does not answer ({exc})".strip()
    return None


def missing_services() -> list[str]:
    missing: list[str] = []
    if not redis_answers(REDIS_URL):
        missing.append(f"Redis at {REDIS_URL} does not answer (BRIDGE_BENCH_REDIS)")
    problem = ensure_database()
    if problem is not None:
        missing.append(problem)
    return missing


# --------------------------------------------------------------------------
# Workers: real ``celery worker`` subprocesses, ended by pid
# --------------------------------------------------------------------------


class Worker:
    """``celery -A benchmarks.bridge_project worker`` (prefork, ``-c N``).

    Its output goes to a file, not a pipe: nobody reads it while it works,
    and a full pipe would stall the worker.
    """

    def __init__(self, concurrency: int, logdir: str) -> None:
        self.name = f"w{concurrency}-{QUEUE}"
        self.log = Path(logdir) / f"{self.name}-{time.monotonic_ns()}.log"
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmarks.bridge_project",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{self.name}@%h",
            "-Q",
            QUEUE,
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                argv,
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "ready." in self.output():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(
            f"worker {self.name} did not print 'ready.' within {timeout_s}s:\n"
            + self.output()[-4000:]
        )

    def end(self, timeout_s: float = 20) -> None:
        """SIGTERM by pid (a warm shutdown); SIGKILL to its group if it hangs."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


@contextlib.contextmanager
def running_worker(concurrency: int, logdir: str) -> Generator[Worker, None, None]:
    worker = Worker(concurrency, logdir)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.end()


# --------------------------------------------------------------------------
# The request, both sides (set up after django.setup(), in main)
# --------------------------------------------------------------------------

Request = Callable[[int, "dict[tuple[str, int], float] | None"], None]


def make_requests() -> dict[str, Request]:
    from django.db import transaction

    from benchmarks.bridge_project.shop.models import Order
    from benchmarks.bridge_project.shop.signals import Placed, placed
    from benchmarks.bridge_project.shop.tasks import record_baseline

    def stamp(stamps: dict[tuple[str, int], float], key: tuple[str, int]) -> None:
        # Registered first in the transaction: it runs right after the COMMIT,
        # before the other side's publish.
        transaction.on_commit(lambda: stamps.__setitem__(key, time.time()))

    def ours(n: int, stamps: dict[tuple[str, int], float] | None = None) -> None:
        with transaction.atomic():
            if stamps is not None:
                stamp(stamps, ("ours", n))
            order = Order.objects.create(n=n)
            placed.send(Order, Placed(order, n))

    def baseline(n: int, stamps: dict[tuple[str, int], float] | None = None) -> None:
        with transaction.atomic():
            if stamps is not None:
                stamp(stamps, ("baseline", n))
            order = Order.objects.create(n=n)
            # Celery >= 5.4; its stubs do not know it yet.
            cast(Any, record_baseline).delay_on_commit(order.pk, n)

    return {"ours": ours, "baseline": baseline}


def reset_tables() -> None:
    from django.db import connection

    from benchmarks.bridge_project.shop.models import Effect, Order
    from django_typed_signals.models import Delivery

    db: Any = connection
    tables = ", ".join(
        db.ops.quote_name(cast(Any, m)._meta.db_table)
        for m in (Order, Effect, Delivery)
    )
    with db.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY")


def effect_count(kind: str) -> int:
    from benchmarks.bridge_project.shop.models import Effect

    return Effect.objects.filter(kind=kind).count()


def wait_for_effects(
    kind: str, expected: int, worker: Worker, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if effect_count(kind) >= expected:
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"{kind}: {effect_count(kind)} of {expected} effects after {timeout_s}s; "
        f"worker output:\n{worker.output()[-4000:]}"
    )


def received(kind: str) -> dict[int, float]:
    from benchmarks.bridge_project.shop.models import Effect

    return dict(
        Effect.objects.filter(kind=kind).values_list("n", "received_at").iterator()
    )


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    unit: str
    ours: float
    baseline: float
    ratio: float
    target: str  # "<=1.3", ">=0.7" or "info"
    over: bool = False
    rounds: tuple[float, ...] = ()  # the per-round ratios, when there are rounds


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def measure_cost(requests: dict[str, Request], plan: Plan, worker: Worker) -> list[Row]:
    """Per-request wall time in this process, a worker consuming meanwhile."""
    progress("request-side cost")
    for request in requests.values():  # warm-up: connections, caches
        for n in range(30):
            request(-1 - n, None)
    per_us: dict[str, list[float]] = {kind: [] for kind in SIDES}
    ratios: list[float] = []
    n = 0
    for repeat in range(plan.repeats):
        order = SIDES if repeat % 2 == 0 else SIDES[::-1]  # take turns going first
        got: dict[str, float] = {}
        for kind in order:
            request = requests[kind]
            start = time.perf_counter()
            for _ in range(plan.requests):
                request(n, None)
                n += 1
            got[kind] = (time.perf_counter() - start) / plan.requests * 1e6
            per_us[kind].append(got[kind])
        ratios.append(got["ours"] / got["baseline"])
    for kind in SIDES:  # drained before the latency run starts
        wait_for_effects(kind, plan.repeats * plan.requests + 30, worker, 300)
    ours, base = (
        statistics.median(per_us["ours"]),
        statistics.median(per_us["baseline"]),
    )
    ratio = statistics.median(ratios)
    target = TARGETS["cost"]
    return [
        Row(
            "request: atomic+insert+send+commit",
            "µs",
            ours,
            base,
            ratio,
            f"<={target}",
            ratio > target,
        )
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure_latency(
    requests: dict[str, Request], plan: Plan, worker: Worker
) -> list[Row]:
    """Commit to receiver with an empty queue, the sides interleaved.

    Each event is sent once the one before it has its effect and at least
    ``PACE_S`` after it was sent: a backlog would measure queueing, not the path.
    """
    from benchmarks.bridge_project.shop.models import Effect

    progress("latency")
    reset_tables()
    stamps: dict[tuple[str, int], float] = {}
    for n in range(plan.paced):
        for kind in SIDES if n % 2 == 0 else SIDES[::-1]:
            sent = time.perf_counter()
            requests[kind](n, stamps)
            deadline = time.monotonic() + 60
            while not Effect.objects.filter(kind=kind, n=n).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{kind} event {n}: no effect after 60s; worker output:\n"
                        + worker.output()[-4000:]
                    )
                time.sleep(0.001)
            pause = sent + PACE_S - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    for kind in SIDES:
        wait_for_effects(kind, plan.paced, worker, timeout_s=60)
    latencies: dict[str, list[float]] = {}
    for kind in SIDES:
        got = received(kind)
        latencies[kind] = [(got[n] - stamps[(kind, n)]) * 1e3 for n in got]
    rows: list[Row] = []
    for q, name in ((0.50, "p50"), (0.99, "p99")):
        ours = percentile(latencies["ours"], q)
        base = percentile(latencies["baseline"], q)
        target = TARGETS.get(name)
        rows.append(
            Row(
                f"commit -> receiver {name}",
                "ms",
                ours,
                base,
                ours / base,
                f"<={target}" if target else "info",
                target is not None and ours / base > target,
            )
        )
    return rows


def measure_throughput(
    requests: dict[str, Request], plan: Plan, concurrency: int, logdir: str
) -> Row:
    """Queue ``plan.events`` with no worker running, then start one and drain.

    Events/s is (events - 1) over the span of the receive timestamps, first
    to last: the worker's start-up is not in it. Each side drains
    ``plan.rounds`` times, the sides taking turns going first (ours, baseline,
    baseline, ours...) so that a machine slowing down or speeding up during
    the run weighs on both; the rates are medians over the rounds and the
    ratio the median of the per-round ratios, as for the request cost.
    """
    rates: dict[str, list[float]] = {kind: [] for kind in SIDES}
    ratios: list[float] = []
    for round_ in range(plan.rounds):
        got: dict[str, float] = {}
        for kind in SIDES if (round_ + concurrency) % 2 else SIDES[::-1]:
            progress(f"throughput -c {concurrency}, round {round_ + 1}: {kind}")
            got[kind] = drain_rate(requests[kind], kind, plan, concurrency, logdir)
            rates[kind].append(got[kind])
        ratios.append(got["ours"] / got["baseline"])
    ratio = statistics.median(ratios)
    target = TARGETS["throughput"]
    return Row(
        f"throughput, {plan.events:,} events, -c {concurrency}",
        "ev/s",
        statistics.median(rates["ours"]),
        statistics.median(rates["baseline"]),
        ratio,
        f">={target}",
        ratio < target,
        rounds=tuple(ratios),
    )


def drain_rate(
    request: Request, kind: str, plan: Plan, concurrency: int, logdir: str
) -> float:
    """Events per second of one worker draining ``plan.events`` queued events."""
    reset_tables()
    for n in range(plan.events):
        request(n, None)
    with running_worker(concurrency, logdir) as worker:
        wait_for_effects(kind, plan.events, worker, timeout_s=1200)
    got = sorted(received(kind).values())
    return (len(got) - 1) / (got[-1] - got[0])


def profile_request(requests: dict[str, Request], count: int = 300) -> None:
    """cProfile of ours' request path: where the time over the baseline goes."""
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(count):
        requests["ours"](10_000_000 + n, None)
    profiler.disable()
    print()
    print(f"Profile of {count} requests of ours (cumulative, top 25):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def print_header(plan: Plan, quick: bool) -> None:
    import celery
    import django

    print("django-typed-signals bridge benchmark: ours vs delay_on_commit")
    print(
        f"  python   {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPU(s); django {django.get_version()}, "
        f"celery {celery.__version__}"
    )
    print(f"  postgres {pg_params()['host']}:{pg_params()['port']}/{DB_NAME}")
    print(f"  redis    {REDIS_URL}, queue {QUEUE}")
    print(
        f"  mode     {'quick' if quick else 'full'}: cost {plan.repeats} repeats x "
        f"{plan.requests} requests per side (median; ratio = median of per-repeat "
        f"ratios), latency {plan.paced} events per side one at a time "
        f"(>= {PACE_S * 1e3:.0f} ms apart), throughput {plan.events:,} events "
        f"per side in {plan.rounds} rounds taking turns (ratio = median of "
        "per-round ratios)"
    )
    print("  workers  celery worker --pool=prefork, -c 1 (cost, latency) and -c 4")


def print_table(rows: list[Row]) -> None:
    head = (
        f"  {'metric':<40} {'ours':>10} {'delay_on_commit':>16} {'ratio':>6} "
        f"{'target':>7} {'result':>6}"
    )
    print()
    print(head)
    print("  " + "-" * (len(head) - 2))
    for row in rows:
        result = "-" if row.target == "info" else ("OVER" if row.over else "PASS")
        print(
            f"  {row.metric:<40} {row.ours:>7.1f} {row.unit:<3}"
            f"{row.baseline:>12.1f} {row.unit:<3} {row.ratio:>6.2f} "
            f"{row.target:>7} {result:>6}"
        )
        if row.rounds:
            each = ", ".join(f"{r:.2f}" for r in row.rounds)
            print(f"  {'':<40} per-round ratios: {each}")


def cleanup_broker() -> None:
    """Drop the run's queue keys from the benchmark's Redis database."""
    try:
        import redis
    except ImportError:
        return
    client: Any = cast(Any, redis).Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"*{QUEUE}*"))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="600 events, few repeats: for CI"
    )
    parser.add_argument(
        "--events",
        type=int,
        metavar="N",
        help="events per side in each throughput run (default 10,000; 600 quick)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of ours' request path",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.events is not None:
        plan = dataclasses.replace(plan, events=max(2, args.events))

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # run the finally blocks: end the workers

    signal.signal(signal.SIGTERM, stop)
    missing = missing_services()
    if missing:
        print("bridge benchmark did NOT run: " + "; ".join(missing), file=sys.stderr)
        if os.environ.get("CI") == "true":
            return 2
        print("=" * 70)
        print("  THE BRIDGE BENCHMARK DID NOT RUN. Missing:")
        for line in missing:
            print(f"    - {line}")
        print("=" * 70)
        return 0

    import django

    # The Celery app first, as proj/__init__.py imports it.
    importlib.import_module("benchmarks.bridge_project")

    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
    reset_tables()
    requests = make_requests()
    started = time.monotonic()
    print_header(plan, args.quick)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dts-bench-") as logdir:
        try:
            with running_worker(1, logdir) as worker:
                rows += measure_cost(requests, plan, worker)
                rows += measure_latency(requests, plan, worker)
                if args.profile:
                    profile_request(requests)
            for concurrency in (1, 4):
                rows.append(measure_throughput(requests, plan, concurrency, logdir))
        finally:
            cleanup_broker()
    print_table(rows)
    over = [row.metric for row in rows if row.over]
    print()
    print(f"{len(over)} row(s) over target" + (": " + ", ".join(over) if over else "."))
    print(f"  ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
