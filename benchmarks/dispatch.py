#!/usr/bin/env python
"""Dispatch overhead of django_typed_signals next to django.dispatch and blinker.

A report, not a test: every case is measured for Django's ``Signal``, ours and
(when installed) blinker with the same module-level receivers, in the same
process, with the measurement order rotated on every repeat.

    python benchmarks/dispatch.py            # full run, about two minutes
    python benchmarks/dispatch.py --quick    # smoke run, a few seconds
    python benchmarks/dispatch.py --check    # exit 1 when a gated row is over

Numbers are nanoseconds per ``send`` call, loop overhead included (it is
printed in the header and is the same for every contestant).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    # Benchmark the checkout this script lives in, not an installed copy.
    sys.path.insert(0, REPO_ROOT)

import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(DEBUG=False)

from django.dispatch import Signal as DjangoSignal  # noqa: E402

try:
    import django_typed_signals as dts
except Exception as exc:  # AppRegistryNotReady or similar: set Django up, retry.
    if exc.__class__.__name__ != "AppRegistryNotReady":
        raise
    django.setup()
    import django_typed_signals as dts

try:
    import blinker
except ImportError:  # blinker is optional: its columns read "n/a".
    blinker = None

try:
    from asgiref.sync import sync_to_async
except ImportError:  # pragma: no cover
    sync_to_async = None

TARGET = 1.10
MEMORY_LIMIT = 1024 * 1024  # bytes of RSS growth allowed over the send loop


# --------------------------------------------------------------------------
# Senders, payload and receivers: plain module-level objects, as in a project.
# --------------------------------------------------------------------------


class Sender:
    """Stands in for a model class sending ``post_save``-like signals."""


class OtherSender:
    """A sender no benchmark sends from; receivers can be bound to it."""


@dataclasses.dataclass(frozen=True)
class Payload:
    pk: int
    created: bool


PAYLOAD = Payload(pk=1, created=True)


def r0(sender, **kwargs):
    return None


def r1(sender, **kwargs):
    return None


def r2(sender, **kwargs):
    return None


def r3(sender, **kwargs):
    return None


def r4(sender, **kwargs):
    return None


def r5(sender, **kwargs):
    return None


def r6(sender, **kwargs):
    return None


def r7(sender, **kwargs):
    return None


def r8(sender, **kwargs):
    return None


def r9(sender, **kwargs):
    return None


SYNC_RECEIVERS = (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9)


async def a0(sender, **kwargs):
    return None


async def a1(sender, **kwargs):
    return None


async def a2(sender, **kwargs):
    return None


async def a3(sender, **kwargs):
    return None


async def a4(sender, **kwargs):
    return None


async def a5(sender, **kwargs):
    return None


async def a6(sender, **kwargs):
    return None


async def a7(sender, **kwargs):
    return None


async def a8(sender, **kwargs):
    return None


async def a9(sender, **kwargs):
    return None


ASYNC_RECEIVERS = (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9)


def observer(call):
    return None


# --------------------------------------------------------------------------
# Signal construction
# --------------------------------------------------------------------------


def connect_all(signal, receivers, sender=None):
    for receiver in receivers:
        if sender is None:
            signal.connect(receiver)
        else:
            signal.connect(receiver, sender=sender)
    return signal


def blinker_signal(receivers, sender=None):
    signal = blinker.Signal()
    for receiver in receivers:
        if sender is None:
            signal.connect(receiver)
        else:
            signal.connect(receiver, sender=sender)
    return signal


# --------------------------------------------------------------------------
# Timing loops. Each runner is compiled so that the send callable and its
# arguments are fast locals: the loop costs the same for every contestant.
# --------------------------------------------------------------------------

_SYNC_SRC = """
def run(_n, _timer=_timer, _repeat=_repeat{params}):
    _it = _repeat(None, _n)
    _t0 = _timer()
    for _ in _it:
        {stmt}
    return _timer() - _t0
"""

_ASYNC_SRC = """
async def run(_n, _timer=_timer, _repeat=_repeat{params}):
    _it = _repeat(None, _n)
    _t0 = _timer()
    for _ in _it:
        await {stmt}
    return _timer() - _t0
"""

LOOP: asyncio.AbstractEventLoop | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    global LOOP
    if LOOP is None:
        LOOP = asyncio.new_event_loop()
    return LOOP


@dataclasses.dataclass
class Side:
    """One contestant in one case: a timed loop plus an optional context."""

    run: Callable[[int], float]
    context: Callable[[], contextlib.AbstractContextManager] | None = None
    keep: object = None  # keeps the signal (and so its receivers' refs) alive

    def time(self, n: int) -> float:
        if self.context is None:
            return self.run(n)
        with self.context():
            return self.run(n)


def make_side(stmt, names, *, is_async=False, context=None, keep=None) -> Side:
    ns = {"_timer": time.perf_counter, "_repeat": itertools.repeat}
    ns.update(names)
    params = "".join(f", {name}={name}" for name in names)
    src = (_ASYNC_SRC if is_async else _SYNC_SRC).format(params=params, stmt=stmt)
    exec(compile(src, f"<bench {stmt}>", "exec"), ns)
    run = ns["run"]
    if is_async:
        coro_run = run

        def run(n, _coro_run=coro_run):
            return get_loop().run_until_complete(_coro_run(n))

    return Side(run=run, context=context, keep=keep)


def send_side(
    signal, *, payload_kw=False, payload_pos=False, context=None, late_bind=False
):
    if late_bind:
        # Look ``send`` up on every call, as code calling ``signal.send(...)``
        # does: a signal may swap its send methods while an observer is set.
        return make_side("sig.send(S)", {"sig": signal, "S": Sender}, context=context)
    if payload_pos:
        stmt, names = "send(S, P)", {"send": signal.send, "S": Sender, "P": PAYLOAD}
    elif payload_kw:
        stmt, names = (
            "send(S, payload=P)",
            {"send": signal.send, "S": Sender, "P": PAYLOAD},
        )
    else:
        stmt, names = "send(S)", {"send": signal.send, "S": Sender}
    return make_side(stmt, names, context=context, keep=signal)


def asend_side(signal, *, context=None):
    return make_side(
        "send(S)",
        {"send": signal.asend, "S": Sender},
        is_async=True,
        context=context,
        keep=signal,
    )


def blinker_async_side(signal, *, context=None):
    # blinker needs a wrapper for sync receivers; asgiref's sync_to_async is
    # what Django uses too (blinker applies it per receiver, Django per send).
    return make_side(
        "send(S, _sync_wrapper=W)",
        {"send": signal.send_async, "S": Sender, "W": sync_to_async},
        is_async=True,
        context=context,
        keep=signal,
    )


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    per_op_ns: list

    @property
    def median(self) -> float:
        return statistics.median(self.per_op_ns)

    @property
    def min(self) -> float:
        return min(self.per_op_ns)


@dataclasses.dataclass
class Case:
    section: str
    label: str
    build: Callable[[], dict]  # name -> Side ("django", "ours", "blinker", ...)
    target: float | None = TARGET
    gated: bool = False
    note: Callable[[dict], str] | None = None
    results: dict = dataclasses.field(default_factory=dict)
    remeasured: bool = False

    @property
    def name(self) -> str:
        return f"{self.section.split(':')[0]}: {self.label}"

    def paired_ratio(self, other: str) -> float | None:
        """Median over repeats of ours / other, each pair timed back to back.

        Pairing keeps the ratio honest when the machine changes speed for a
        while (a neighbour, frequency scaling): both sides of a pair see it.
        """
        if "ours" not in self.results or other not in self.results:
            return None
        pairs = zip(
            self.results["ours"].per_op_ns, self.results[other].per_op_ns, strict=True
        )
        return statistics.median(ours / theirs for ours, theirs in pairs)

    @property
    def ratio(self) -> float | None:
        return self.paired_ratio("django")

    @property
    def blinker_ratio(self) -> float | None:
        return self.paired_ratio("blinker")

    @property
    def over(self) -> bool:
        return (
            self.target is not None
            and self.ratio is not None
            and self.ratio > self.target
        )


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def calibrate(side: Side, budget: float) -> int:
    """Smallest n in 1, 2, 5, 10, 20, 50, ... whose loop takes >= budget."""
    for exponent in itertools.count():
        for mantissa in (1, 2, 5):
            n = mantissa * 10**exponent
            if side.time(n) >= budget:
                return n
    raise AssertionError("unreachable")


def warm_up(seconds: float) -> None:
    """Send for a while first: the first case should not pay for a cold CPU."""
    signals = [
        connect_all(DjangoSignal(), SYNC_RECEIVERS),
        connect_all(dts.Signal(), SYNC_RECEIVERS),
    ]
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for signal in signals:
            for _ in range(1000):
                signal.send(Sender)


def measure(case: Case, repeats: int, budget: float) -> None:
    sides = case.build()
    names = list(sides)
    with gc_disabled():
        numbers = {name: calibrate(sides[name], budget) for name in names}
        samples = {name: [] for name in names}
        for i in range(repeats):
            # Rotate the order every repeat so slow drift (frequency scaling,
            # a neighbour waking up) lands on every contestant alike.
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                n = numbers[name]
                samples[name].append(sides[name].time(n) / n * 1e9)
            gc.collect()
    case.results = {name: Stats(samples[name]) for name in names}
    del sides
    gc.collect()


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------


def sync_cases(section: str, *, use_caching: bool, gated: bool) -> list:
    """The five send cases for Signal() or Signal(use_caching=True)."""

    def ours(receivers=(), sender=None):
        return connect_all(dts.Signal(use_caching=use_caching), receivers, sender)

    def django_(receivers=(), sender=None):
        return connect_all(DjangoSignal(use_caching=use_caching), receivers, sender)

    def with_blinker(sides, receivers=(), sender=None, muted=False):
        if blinker is not None:
            signal = blinker_signal(receivers, sender)
            sides["blinker"] = send_side(
                signal, context=signal.muted if muted else None
            )
        return sides

    def plain(receivers, sender=None):
        return lambda: with_blinker(
            {
                "django": send_side(django_(receivers, sender)),
                "ours": send_side(ours(receivers, sender)),
            },
            receivers,
            sender,
        )

    def muted():
        signal = ours(SYNC_RECEIVERS)
        return with_blinker(
            {
                "django": send_side(django_()),  # Django's empty send
                "ours": send_side(signal, context=lambda: dts.mute(signal)),
            },
            SYNC_RECEIVERS,
            muted=True,
        )

    return [
        Case(section, "0 receivers", plain(()), gated=gated),
        Case(section, "1 receiver", plain(SYNC_RECEIVERS[:1]), gated=gated),
        Case(section, "10 receivers", plain(SYNC_RECEIVERS), gated=gated),
        Case(
            section,
            "10 receivers, other sender",
            plain(SYNC_RECEIVERS, OtherSender),
            gated=gated,
        ),
        Case(section, "muted 10 vs Django empty", muted, gated=gated),
    ]


def typed_cases() -> list:
    section = (
        "TypedSignal(Payload): send(sender, payload) vs Django send(sender, payload=p)"
    )

    def ours(receivers=(), sender=None):
        return connect_all(dts.TypedSignal(Payload), receivers, sender)

    def django_(receivers=(), sender=None):
        return connect_all(DjangoSignal(), receivers, sender)

    def with_blinker(sides, receivers=(), sender=None, muted=False):
        if blinker is not None:
            signal = blinker_signal(receivers, sender)
            sides["blinker"] = send_side(
                signal, payload_kw=True, context=signal.muted if muted else None
            )
        return sides

    def plain(receivers, sender=None):
        return lambda: with_blinker(
            {
                "django": send_side(django_(receivers, sender), payload_kw=True),
                "ours": send_side(ours(receivers, sender), payload_pos=True),
            },
            receivers,
            sender,
        )

    def muted():
        signal = ours(SYNC_RECEIVERS)
        return with_blinker(
            {
                "django": send_side(django_(), payload_kw=True),
                "ours": send_side(
                    signal, payload_pos=True, context=lambda: dts.mute(signal)
                ),
            },
            SYNC_RECEIVERS,
            muted=True,
        )

    return [
        Case(section, "0 receivers", plain(())),
        Case(section, "1 receiver", plain(SYNC_RECEIVERS[:1])),
        Case(section, "10 receivers", plain(SYNC_RECEIVERS)),
        Case(section, "10 receivers, other sender", plain(SYNC_RECEIVERS, OtherSender)),
        Case(section, "muted 10 vs Django empty", muted),
    ]


def async_cases() -> list:
    section = (
        "asend: one event loop, awaits in a loop (blinker: send_async + sync_to_async)"
    )

    def with_blinker(sides, receivers=(), sender=None, muted=False):
        if blinker is not None and sync_to_async is not None:
            signal = blinker_signal(receivers, sender)
            sides["blinker"] = blinker_async_side(
                signal, context=signal.muted if muted else None
            )
        return sides

    def plain(receivers, sender=None):
        return lambda: with_blinker(
            {
                "django": asend_side(connect_all(DjangoSignal(), receivers, sender)),
                "ours": asend_side(connect_all(dts.Signal(), receivers, sender)),
            },
            receivers,
            sender,
        )

    def muted():
        signal = connect_all(dts.Signal(), SYNC_RECEIVERS)
        return with_blinker(
            {
                "django": asend_side(DjangoSignal()),
                "ours": asend_side(signal, context=lambda: dts.mute(signal)),
            },
            SYNC_RECEIVERS,
            muted=True,
        )

    return [
        Case(section, "0 receivers", plain(())),
        Case(section, "1 sync receiver", plain(SYNC_RECEIVERS[:1])),
        Case(section, "10 sync receivers", plain(SYNC_RECEIVERS)),
        Case(section, "10 sync, other sender", plain(SYNC_RECEIVERS, OtherSender)),
        Case(section, "muted 10 vs Django empty", muted),
        Case(section, "1 async receiver", plain(ASYNC_RECEIVERS[:1])),
        Case(section, "10 async receivers", plain(ASYNC_RECEIVERS)),
    ]


@contextlib.contextmanager
def observer_registered() -> Iterator[None]:
    dts.add_observer(observer)
    try:
        yield
    finally:
        dts.remove_observer(observer)


def observer_cases() -> list:
    section = "Observability: Signal(), 10 receivers"

    def registered():
        # Every side looks ``send`` up per call here, so all pay the same.
        sides = {
            "django": send_side(
                connect_all(DjangoSignal(), SYNC_RECEIVERS), late_bind=True
            ),
            "ours": send_side(
                connect_all(dts.Signal(), SYNC_RECEIVERS),
                context=observer_registered,
                late_bind=True,
            ),
            "ours_without": send_side(
                connect_all(dts.Signal(), SYNC_RECEIVERS), late_bind=True
            ),
        }
        if blinker is not None:
            sides["blinker"] = send_side(blinker_signal(SYNC_RECEIVERS), late_bind=True)
        return sides

    def removed():
        # An observer that came and went must leave the zero-overhead path.
        with observer_registered():
            pass
        sides = {
            "django": send_side(connect_all(DjangoSignal(), SYNC_RECEIVERS)),
            "ours": send_side(connect_all(dts.Signal(), SYNC_RECEIVERS)),
        }
        if blinker is not None:
            sides["blinker"] = send_side(blinker_signal(SYNC_RECEIVERS))
        return sides

    def registered_note(results):
        extra = statistics.median(
            with_ - without
            for with_, without in zip(
                results["ours"].per_op_ns,
                results["ours_without"].per_op_ns,
                strict=True,
            )
        )
        return (
            f"observer registered: ours {results['ours'].median:.0f} ns vs "
            f"{results['ours_without'].median:.0f} ns without one in the same run: "
            f"{extra:+.0f} ns per send, {extra / len(SYNC_RECEIVERS):+.0f} ns "
            "per receiver call (one ReceiverCall each)"
        )

    return [
        Case(
            section,
            "observer registered (info)",
            registered,
            target=None,
            note=registered_note,
        ),
        Case(section, "observer added, then removed", removed, gated=True),
    ]


def fresh(sender, **kwargs):
    """Connected and disconnected again by the connect cases."""


def fresh_typed(sender, *, payload: Payload, **kwargs):
    """The typed receiver the connect cases connect to a ``TypedSignal``."""


def connect_side(signal, receiver) -> Side:
    return make_side(
        "connect(R); disconnect(R)",
        {"connect": signal.connect, "disconnect": signal.disconnect, "R": receiver},
        keep=signal,
    )


def connect_cases() -> list:
    section = "connect + disconnect: a fresh receiver on a signal holding 10"

    def build(make_ours, receiver):
        def sides():
            result = {
                "django": connect_side(
                    connect_all(DjangoSignal(), SYNC_RECEIVERS), receiver
                ),
                "ours": connect_side(
                    connect_all(make_ours(), SYNC_RECEIVERS), receiver
                ),
            }
            if blinker is not None:
                result["blinker"] = connect_side(
                    blinker_signal(SYNC_RECEIVERS), receiver
                )
            return result

        return sides

    return [
        Case(section, "Signal", build(dts.Signal, fresh), target=1.00),
        Case(
            section,
            "TypedSignal",
            build(lambda: dts.TypedSignal(Payload), fresh_typed),
            target=1.25,
        ),
    ]


_KEEP: list = []


def read_only_cases() -> list:
    """``services``' read-only guard: free for receivers that do not have it.

    Measured last: importing ``services`` registers its connect hook, as
    ``INSTALLED_APPS`` does in a project, and the cases before run without it.
    """
    section = "Read-only receivers (services' connect hook registered)"

    def services():
        import django_typed_signals.services  # noqa: F401  # registers the hook

    def plain_with_hook():
        services()
        # A read-only receiver elsewhere in the process: its guard is its own.
        elsewhere = dts.Signal()
        elsewhere.connect(r0, read_only=True)
        _KEEP.append(elsewhere)
        sides = {
            "django": send_side(connect_all(DjangoSignal(), SYNC_RECEIVERS)),
            "ours": send_side(connect_all(dts.Signal(), SYNC_RECEIVERS)),
        }
        if blinker is not None:
            sides["blinker"] = send_side(blinker_signal(SYNC_RECEIVERS))
        return sides

    def one_read_only():
        services()
        ours = dts.Signal()
        ours.connect(SYNC_RECEIVERS[0], read_only=True)
        for each in SYNC_RECEIVERS[1:]:
            ours.connect(each)
        return {
            "django": send_side(connect_all(DjangoSignal(), SYNC_RECEIVERS)),
            "ours": send_side(ours),
        }

    def connect_with_hook():
        services()
        return {
            "django": connect_side(connect_all(DjangoSignal(), SYNC_RECEIVERS), fresh),
            "ours": connect_side(connect_all(dts.Signal(), SYNC_RECEIVERS), fresh),
        }

    return [
        Case(section, "10 receivers, none read-only", plain_with_hook, gated=True),
        Case(section, "10 receivers, 1 read-only (info)", one_read_only, target=None),
        Case(section, "connect + disconnect (info)", connect_with_hook, target=None),
    ]


def all_cases() -> list:
    return (
        sync_cases("Signal(): send", use_caching=False, gated=True)
        + sync_cases(
            "Signal(use_caching=True): send (blinker has no cache: plain blinker)",
            use_caching=True,
            gated=True,
        )
        + observer_cases()
        + typed_cases()
        + async_cases()
        + connect_cases()
        + read_only_cases()
    )


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def rss_bytes() -> tuple:
    """Current resident set size and where it was read from."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE"), "/proc/self/statm"
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # optional

        return psutil.Process().memory_info().rss, "psutil"
    except ImportError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return peak * scale, "getrusage peak"


def rss_growth(signal, sends: int) -> tuple:
    send = signal.send
    for _ in range(10_000):  # warm caches and free lists first
        send(Sender)
    gc.collect()
    before, source = rss_bytes()
    for _ in itertools.repeat(None, sends):
        send(Sender)
    gc.collect()
    after, _ = rss_bytes()
    return after - before, source


def receiver_count(signal) -> int:
    receivers = getattr(signal, "receivers", None)
    if receivers is None and hasattr(signal, "receivers_info"):
        receivers = signal.receivers_info()
    return len(receivers)


def collected_receivers(signal, send, count: int = 1000) -> tuple:
    keep = []
    for i in range(count):

        def receiver(sender, _i=i, **kwargs):
            return _i

        signal.connect(receiver)  # weak reference, the default everywhere
        keep.append(receiver)
    before = receiver_count(signal)
    del keep, receiver
    gc.collect()
    send()
    return before, receiver_count(signal)


def memory_report(sends: int) -> list:
    """Print the memory section; return the names of failed checks."""
    failures = []
    print()
    print(
        f"Memory: RSS growth over {sends:,} sends, 10 weak receivers "
        f"(limit < {MEMORY_LIMIT // 1024} KiB for ours)"
    )
    rows = [
        ("Signal()", DjangoSignal, lambda: dts.Signal()),
        (
            "Signal(use_caching=True)",
            lambda: DjangoSignal(use_caching=True),
            lambda: dts.Signal(use_caching=True),
        ),
    ]
    source = "?"
    for label, make_django, make_ours in rows:
        django_signal = connect_all(make_django(), SYNC_RECEIVERS)
        django_growth, source = rss_growth(django_signal, sends)
        ours_growth, source = rss_growth(
            connect_all(make_ours(), SYNC_RECEIVERS), sends
        )
        ok = ours_growth < MEMORY_LIMIT
        if not ok:
            failures.append(f"memory {label}")
        print(
            f"  {label:<26} django {django_growth / 1024:+9.1f} KiB   "
            f"ours {ours_growth / 1024:+9.1f} KiB   {'PASS' if ok else 'OVER'}"
        )
    print(f"  (RSS read from {source})")

    print()
    print(
        "Collected receivers disappear: 1,000 closures connected weakly, "
        "deleted, gc.collect(), one send"
    )
    typed = dts.TypedSignal(Payload)
    contestants = [
        ("django Signal()", DjangoSignal(), None),
        ("ours Signal()", dts.Signal(), None),
        ("ours Signal(use_caching=True)", dts.Signal(use_caching=True), None),
        ("ours TypedSignal", typed, lambda: typed.send(Sender, PAYLOAD)),
    ]
    if blinker is not None:
        contestants.append(("blinker Signal()", blinker.Signal(), None))
    for label, signal, send in contestants:
        before, after = collected_receivers(
            signal, send or (lambda signal=signal: signal.send(Sender))
        )
        ok = after == 0
        if not ok and label.startswith("ours"):
            failures.append(f"collected receivers {label}")
        print(
            f"  {label:<30} len(receivers) before {before:>5}  after {after:>5}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    failures += sender_cache_report()
    return failures


def cached_senders(signal, senders: int) -> tuple:
    """Cache entries and RSS growth after one send per distinct string sender."""
    connect_all(signal, SYNC_RECEIVERS)
    gc.collect()
    before, _ = rss_bytes()
    send = signal.send
    for n in range(senders):
        send(f"tenant-{n}")
    gc.collect()
    after, _ = rss_bytes()
    return len(signal.sender_receivers_cache), after - before


def sender_cache_report(senders: int = 100_000) -> list:
    """Senders that cannot be weakly referenced must not grow the cache forever."""
    print()
    print(
        f"Sender cache: use_caching=True, {senders:,} sends, each from a new "
        "string sender (which Django cannot cache)"
    )
    limit = dts.Signal(use_caching=True).sender_receivers_cache.strong_limit
    failures = []
    for label, signal in (
        ("ours Signal(use_caching=True)", dts.Signal(use_caching=True)),
    ):
        entries, growth = cached_senders(signal, senders)
        ok = entries <= limit
        if not ok:
            failures.append(f"sender cache {label}")
        print(
            f"  {label:<30} entries {entries:>7,} (limit {limit:,})  "
            f"RSS {growth / 1024:+9.1f} KiB  {'PASS' if ok else 'OVER'}"
        )
    try:
        connect_all(DjangoSignal(use_caching=True), SYNC_RECEIVERS).send("a string")
        django_note = "caches them"
    except TypeError:
        django_note = "raises TypeError for such senders"
    print(f"  (django Signal(use_caching=True) {django_note})")
    return failures


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt_stats(stats: Stats | None) -> str:
    if stats is None:
        return "n/a"
    return f"{stats.median:9.0f} ({stats.min:7.0f})"


def print_header(args, repeats, budget) -> None:
    def version(dist):
        try:
            from importlib.metadata import version as v

            return v(dist)
        except Exception:
            return "?"

    ours_version = getattr(dts, "__version__", None) or version("django-typed-signals")
    print("django-typed-signals dispatch benchmark")
    print(
        f"  python   {platform.python_version()} ({platform.python_implementation()}) "
        f"on {platform.machine()}, {os.cpu_count()} CPU(s)"
    )
    print(f"  django   {django.get_version()}")
    print(f"  ours     {ours_version}  ({os.path.dirname(dts.__file__)})")
    blinker_version = version("blinker") if blinker is not None else None
    print(f"  blinker  {blinker_version or 'n/a (not installed)'}")
    mode = "quick" if args.quick else "full"
    print(
        f"  mode     {mode}: {repeats} repeats of >= {budget * 1000:.0f} ms per "
        "contestant, order rotated each repeat, gc off"
    )
    empty = make_side("pass", {})
    n = calibrate(empty, budget)
    overhead = statistics.median(empty.time(n) / n * 1e9 for _ in range(5))
    print(f"  loop overhead {overhead:.1f} ns/op, included in every number below")
    print(
        "  ns/op: median of repeats (min in parentheses); ratio: median of the "
        "per-repeat ours/django"
    )
    print(f"  ratios, each pair timed back to back; target <= {TARGET:.2f}")


def print_table(cases: list) -> None:
    head = (
        f"  {'case':<30} {'django ns (min)':>19} {'ours ns (min)':>19} "
        f"{'ratio':>6} {'target':>7} {'result':>6}  {'blinker ns (min)':>19} "
        f"{'ours/blinker':>12}"
    )
    section = None
    for case in cases:
        if case.section != section:
            section = case.section
            gate = "gated by --check" if case.gated else "gated by --check-all only"
            print()
            print(f"{section}  [{gate}]")
            print(head)
        ratio = case.ratio
        if case.target is None:
            target, result = "info", "-"
        else:
            target = f"<={case.target:.2f}"
            result = "OVER" if case.over else "PASS"
        blinker_ratio = case.blinker_ratio
        label = case.label + (" *" if case.remeasured else "")
        print(
            f"  {label:<30} {fmt_stats(case.results.get('django')):>19} "
            f"{fmt_stats(case.results.get('ours')):>19} "
            f"{ratio:6.3f} {target:>7} {result:>6}  "
            f"{fmt_stats(case.results.get('blinker')):>19} "
            f"{(f'{blinker_ratio:.2f}' if blinker_ratio is not None else 'n/a'):>12}"
        )
        if case.note is not None:
            print(f"    -> {case.note(case.results)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="few, short repeats: a smoke run of a few seconds",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a gated row (Signal sends, memory) fails",
    )
    parser.add_argument(
        "--check-all",
        action="store_true",
        help="like --check, also gating TypedSignal and asend rows",
    )
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="run only cases whose section or label contains TEXT",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the memory section"
    )
    args = parser.parse_args(argv)

    if args.quick:
        repeats, budget, sends = 7, 0.002, 200_000
    else:
        repeats, budget, sends = 41, 0.015, 1_000_000
    check = args.check or args.check_all

    warm_up(0.5 if args.quick else 2.0)
    print_header(args, repeats, budget)
    cases = all_cases()
    if args.only:
        needle = args.only.lower()
        cases = [c for c in cases if needle in f"{c.section} {c.label}".lower()]
    for case in cases:
        measure(case, repeats, budget)

    def is_gated(case):
        return case.target is not None and (case.gated or args.check_all)

    if check:
        # A single noisy repeat set should not fail a build: confirm with a
        # second, longer measurement before calling a gated row over.
        for case in cases:
            if is_gated(case) and case.over:
                measure(case, repeats * 2, budget)
                case.remeasured = True

    print_table(cases)
    if any(case.remeasured for case in cases):
        print("\n  * over on the first pass, re-measured with twice the repeats")

    failures = [c.name for c in cases if is_gated(c) and c.over]
    if not args.no_memory and not args.only:
        failures += memory_report(sends)

    over = [c.name + ("" if is_gated(c) else "  (not gated)") for c in cases if c.over]
    print()
    print(f"{len(over)} row(s) over target" + (":" if over else "."))
    for line in over:
        print(f"  {line}")
    if LOOP is not None:
        LOOP.close()
    if check and failures:
        print(f"--check: {len(failures)} gated failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
