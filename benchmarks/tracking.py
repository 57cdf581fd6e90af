#!/usr/bin/env python
"""Change-tracking cost of django_typed_signals next to plain Django and peers.

A report, not a test. One table, ten columns, one model class per variant
(``benchmarks/tracking_app``): plain Django, ours and, when installed,
django-lifecycle, django-model-utils' ``FieldTracker``, django-dirtyfields and
django-tracking-model, all measured in one process:

* loading a queryset (``list(qs)`` and ``qs.iterator()``), 1 and 3 tracked fields;
* ``Model.from_db()`` alone, on rows fetched before;
* constructing instances (``Model(**kwargs)``);
* a ``save()`` whose one receiver fires because ``status`` changed, with and
  without ``update_fields``;
* memory per loaded instance (tracemalloc).

Ours also has rows for 3 scalar fields and for every field
(``track_changes(Model)``).

    python benchmarks/tracking.py             # 100,000 rows
    python benchmarks/tracking.py --quick     # 3,000 rows: a smoke run
    python benchmarks/tracking.py --no-peers  # plain Django and ours only
    python benchmarks/tracking.py --check     # exit 1 when one of ours is over

Times are CPU time of the benchmark thread (SQLite runs in it, in memory), so
other processes on the machine disturb the numbers less than wall time would.
The cyclic GC is on while timing, as in production: what a library allocates
per row makes it collect more often. Each run is also timed with the GC off;
those ratios are printed beside, to tell allocation from work.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import decimal
import gc
import os
import platform
import sqlite3
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from importlib import metadata
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
for path in (REPO_ROOT, BENCH_DIR):
    # Benchmark the checkout this script lives in, not an installed copy.
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracking_app.settings")

import django  # noqa: E402

django.setup()

import tracking_app.receivers  # noqa: E402, F401  (connects the receivers)
from django.db import connection  # noqa: E402
from tracking_app import models as m  # noqa: E402

from django_typed_signals import receiver  # noqa: E402
from django_typed_signals.lifecycle import (  # noqa: E402
    PostSave,
    changed,
    track_changes,
)

TARGETS = {"load": 1.10, "from_db": 1.10, "construct": 1.05, "save": 1.10}
OURS = ("typed", "typed-scalars", "typed-all")  # the rows with a target
STATUSES = ("paid", "shipped")  # saves alternate: every save changes status
CLOCK = time.thread_time  # CPU time: a busy neighbour process does not count
SCALARS_LABEL = "  ours, 3 scalar fields"
ALL_LABEL = "  ours, every field"


class TypedOrderAll(m.OrderFields):
    """django-typed-signals, ``track_changes(TypedOrderAll)``: every field."""

    class Meta:
        app_label = "tracking_app"
        db_table = m.TABLE
        managed = False


track_changes(TypedOrderAll)
m.FIRED["typed-all"] = 0


@receiver(PostSave, sender=TypedOrderAll, when=changed("status"))
def _all_status_changed(sender: type[TypedOrderAll], **kwargs: Any) -> None:
    m.FIRED["typed-all"] += 1


# --------------------------------------------------------------------------
# Variants: one model for 1 tracked field, one for 3 (the same one when the
# library tracks every field anyway).
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Variant:
    key: str  # also the key of its receiver's call count in ``m.FIRED``
    label: str
    one: Any  # tracks m.ONE_FIELD; the model constructed and saved
    three: Any  # tracks m.THREE_FIELDS


PEERS = (
    # (key, distribution, 1-field model, 3-field model)
    ("lifecycle", "django-lifecycle", "LifecycleOrder", "LifecycleOrder"),
    ("model-utils", "django-model-utils", "ModelUtilsOrder1", "ModelUtilsOrder3"),
    ("dirtyfields", "django-dirtyfields", "DirtyOrder1", "DirtyOrder3"),
    (
        "tracking-model",
        "django-tracking-model",
        "TrackingModelOrder1",
        "TrackingModelOrder3",
    ),
)


def variants(peers: bool) -> tuple[list[Variant], dict[str, str]]:
    """The variants to run, and the peer libraries left out with the reason."""
    found = [
        Variant("plain", "plain Django", m.PlainOrder, m.PlainOrder),
        Variant("typed", "django-typed-signals", m.TypedOrder1, m.TypedOrder3),
    ]
    missing: dict[str, str] = {}
    for key, dist, one, three in PEERS if peers else ():
        if dist in m.UNAVAILABLE:
            missing[dist] = m.UNAVAILABLE[dist]
        else:
            found.append(Variant(key, dist, getattr(m, one), getattr(m, three)))
    return found, missing


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

BASE_TIME = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def order_kwargs(i: int, customer_id: int) -> dict[str, Any]:
    return {
        "status": "new",
        "amount": decimal.Decimal(f"{i % 1000}.{i % 100:02d}"),
        "customer_id": customer_id,
        "data": {"sku": f"SKU-{i % 500}", "lines": [1, 2, 3], "gift": i % 7 == 0},
        "note": f"order note {i}",
        "quantity": i % 10 + 1,
        "paid": i % 2 == 0,
        "created_at": BASE_TIME + datetime.timedelta(seconds=i),
        "reference": f"ORD-{i:08d}",
    }


def create_rows(rows: int) -> int:
    """Create the tables and ``rows`` orders; return a customer's pk."""
    with connection.schema_editor() as editor:
        editor.create_model(m.Customer)
        editor.create_model(m.PlainOrder)
    customers = m.Customer.objects.bulk_create(
        m.Customer(name=f"customer {i}") for i in range(100)
    )
    ids = [c.pk for c in customers]
    m.PlainOrder.objects.bulk_create(
        (m.PlainOrder(**order_kwargs(i, ids[i % len(ids)])) for i in range(rows)),
        batch_size=5000,
    )
    return ids[0]


# --------------------------------------------------------------------------
# Tasks: each call runs once and returns the seconds it took.
# --------------------------------------------------------------------------

Task = Callable[[bool], float]
"""Runs once, with the GC on (True) or off, and returns the seconds it took."""


def timed(run: Callable[[], object], gc_on: bool) -> float:
    gc.collect()  # every run starts from the same, empty, young generation
    if not gc_on:
        gc.disable()
    try:
        start = CLOCK()
        result = run()
        elapsed = CLOCK() - start
    finally:
        gc.enable()
    del result  # instances a list holds are freed outside the timing
    return elapsed


def load_list(model: Any) -> Task:
    return lambda gc_on: timed(lambda: list(model.objects.all()), gc_on)


def load_iterator(model: Any) -> Task:
    def run() -> None:
        for _ in model.objects.iterator():
            pass

    return lambda gc_on: timed(run, gc_on)


ROWS: list[tuple[Any, ...]] = []
"""The table's rows as ``from_db()`` gets them (filled by ``main()``)."""
NAMES = [f.attname for f in m.PlainOrder._meta.concrete_fields]


def from_db(model: Any) -> Task:
    def run() -> list[Any]:
        make = model.from_db
        return [make("default", NAMES, row) for row in ROWS]

    return lambda gc_on: timed(run, gc_on)


def construct(model: Any, count: int, kwargs: dict[str, Any]) -> Task:
    def run() -> None:
        for _ in range(count):
            model(**kwargs)

    return lambda gc_on: timed(run, gc_on)


SAVES: dict[str, int] = {}
"""Variant key -> saves run, to check that every save fired its receiver."""


def save(
    key: str, model: Any, count: int, pk: int, update_fields: list[str] | None = None
) -> Task:
    instance = model.objects.get(pk=pk)  # loaded: tracking has a baseline

    def run() -> None:
        for i in range(count):
            instance.status = STATUSES[i & 1]
            instance.save(update_fields=update_fields)

    def task(gc_on: bool) -> float:
        SAVES[key] = SAVES.get(key, 0) + count
        return timed(run, gc_on)

    return task


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    title: str
    kind: str  # key of TARGETS
    per: int  # operations in one run; times are reported per operation
    unit: str
    repeats: int
    tasks: dict[str, Task]  # variant key -> task
    times: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """Variant key -> per-operation times with the GC on, one per repeat."""
    times_off: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """The same with the GC off."""
    same_as: dict[str, Case] = dataclasses.field(default_factory=dict)
    """Variant key -> the case whose measurement this one reuses."""

    def series(self, key: str, gc_on: bool = True) -> list[float]:
        case = self.same_as.get(key, self)
        return (case.times if gc_on else case.times_off)[key]

    def ratios(self, key: str, gc_on: bool = True) -> list[float]:
        plain = self.same_as.get(key, self).series("plain", gc_on)
        pairs = zip(self.series(key, gc_on), plain, strict=True)
        return [t / p for t, p in pairs]

    def ratio(self, key: str, gc_on: bool = True) -> float:
        return statistics.median(self.ratios(key, gc_on))

    def verdict(self, key: str) -> str:
        if key not in OURS:
            return ""
        target = TARGETS[self.kind]
        return f"<={target:.2f} {'PASS' if self.ratio(key) <= target else 'OVER'}"


def order_for(keys: list[str], repeat: int) -> list[str]:
    """The run order of one repeat.

    Peers rotate so that drift lands on each of them alike; plain Django and
    ours always run back to back (taking turns at going first), so the ratio
    that has a target compares two runs as close in time as can be.
    """
    pair = ["plain", "typed"] if repeat % 2 == 0 else ["typed", "plain"]
    others = [k for k in keys if k not in pair]
    if others:
        shift = repeat % len(others)
        others = others[shift:] + others[:shift]
    at = repeat % (len(others) + 1)
    return others[:at] + pair + others[at:]


def run_cases(cases: list[Case]) -> None:
    for case in cases:
        case.times = {key: [] for key in case.tasks}
        case.times_off = {key: [] for key in case.tasks}
    for repeat in range(max(case.repeats for case in cases)):
        for case in cases:
            if repeat < case.repeats:
                # GC on and off take turns at going first, as the variants do.
                for gc_on in (True, False) if repeat % 2 == 0 else (False, True):
                    times = case.times if gc_on else case.times_off
                    for key in order_for(list(case.tasks), repeat):
                        elapsed = case.tasks[key](gc_on)
                        times[key].append(elapsed / case.per * 1e6)


def warm_up(vs: list[Variant], pk: int, kwargs: dict[str, Any]) -> dict[str, str]:
    """Run every variant's code once; return the peers that failed, and why."""
    failed: dict[str, str] = {}
    for v in list(vs):
        try:
            for model in {v.one, v.three}:
                list(model.objects.all()[:2000])
                for _ in model.objects.all()[:2000].iterator():
                    pass
                for _ in range(2000):
                    model(**kwargs)
            save(v.key, v.one, 50, pk)(True)
        except Exception as exc:
            if v.key in ("plain", "typed"):
                raise
            vs.remove(v)  # a peer that breaks on this Django is reported, not run
            failed[v.label] = m.reason(exc)
    return failed


def memory_per_instance(model: Any, rows: int) -> float:
    """Bytes a loaded instance keeps alive, averaged over ``rows`` of them."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        objs = list(model.objects.all()[:rows])
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / len(objs)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def print_header(
    mode: str, vs: list[Variant], missing: dict[str, str], rows: int
) -> None:
    print("django-typed-signals change-tracking benchmark")
    print(
        f"  python   {platform.python_version()} ({platform.python_implementation()})"
        f" on {platform.machine()}, {os.cpu_count()} CPU(s)"
    )
    print(
        f"  django   {django.get_version()}, SQLite {sqlite3.sqlite_version} in memory"
    )
    for v in vs:
        if v.key != "plain":
            print(f"  {v.label:<22} {version(v.label)}")
    for dist, reason in missing.items():
        print(f"  {dist:<22} n/a ({reason})")
    print(
        f"  mode     {mode}: {rows:,} rows of 10 fields; CPU time of this thread, "
        "gc on while timing (gc off: the ratio beside)"
    )
    print(
        f"  tracked  1 field: {', '.join(m.ONE_FIELD)}; "
        f"3 fields: {', '.join(m.THREE_FIELDS)} (a JSON dict); "
        f"3 scalar fields: {', '.join(m.THREE_SCALARS)}; every field"
    )
    print(
        "  columns  median and min of the repeats, per operation; ratio: median "
        "of the per-repeat variant / plain Django (range: lowest-highest); "
        "gc off: that ratio with the GC off"
    )


def print_case(case: Case, labels: dict[str, str]) -> None:
    print()
    print(f"{case.title}  [{case.repeats} repeats]")
    print(
        f"  {'variant':<28} {'median ' + case.unit:>14} {'min ' + case.unit:>14} "
        f"{'ratio':>6} {'range':>11} {'gc off':>7}  target"
    )
    for key, label in labels.items():
        if key not in case.tasks and key not in case.same_as:
            continue
        times = case.series(key)
        if key == "plain":
            ratio, spread, off = "1.00", "", "1.00"
        else:
            ratios = case.ratios(key)
            ratio = f"{case.ratio(key):.2f}"
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
            off = f"{case.ratio(key, gc_on=False):.2f}"
        if key in case.same_as:
            label += " (=1 field)"
        print(
            f"  {label:<28} {statistics.median(times):14.2f} {min(times):14.2f} "
            f"{ratio:>6} {spread:>11} {off:>7}  {case.verdict(key)}"
        )


def print_memory(
    vs: list[Variant], memory: dict[tuple[str, int], float], rows: int
) -> None:
    print()
    print(f"Memory per loaded instance, bytes (tracemalloc, {rows:,} rows)")
    print(f"  {'variant':<26} {'1 field':>9} {'3 fields':>9} {'over plain':>14}")
    plain = memory["plain", 1]
    for v in vs:
        one, three = memory[v.key, 1], memory[v.key, 3]
        extra = "" if v.key == "plain" else f"+{one - plain:.0f} / +{three - plain:.0f}"
        print(f"  {v.label:<26} {one:9.0f} {three:9.0f} {extra:>14}")
        if v.key == "typed":
            for key, label in (
                ("typed-scalars", SCALARS_LABEL),
                ("typed-all", ALL_LABEL),
            ):
                size = memory[key, 3]
                extra = f"+{size - plain:.0f}"
                print(f"  {label:<26} {'':>9} {size:9.0f} {extra:>14}")


def print_summary(
    cases: list[Case],
    vs: list[Variant],
    memory: dict[tuple[str, int], float],
    missing: dict[str, str],
) -> None:
    print()
    print("Summary: median ratio to plain Django; memory in bytes per instance")
    heads = ["list 1f", "list 3f", "iter 1f", "iter 3f", "from_db", "init"]
    heads += ["save", "save uf"]
    print(
        f"  {'variant':<24}"
        + "".join(f"{h:>8}" for h in heads)
        + f"{'mem 1f':>8}{'mem 3f':>8}"
    )
    for v in vs:
        cells = [
            "1.00" if v.key == "plain" else f"{case.ratio(v.key):.2f}" for case in cases
        ]
        print(
            f"  {v.label:<24}"
            + "".join(f"{c:>8}" for c in cells)
            + f"{memory[v.key, 1]:8.0f}{memory[v.key, 3]:8.0f}"
        )
        if v.key == "typed":
            for key, label in (
                ("typed-scalars", SCALARS_LABEL),
                ("typed-all", ALL_LABEL),
            ):
                cells = [
                    f"{case.ratio(key):.2f}" if key in case.tasks else "-"
                    for case in cases
                ]
                print(
                    f"  {label:<24}"
                    + "".join(f"{c:>8}" for c in cells)
                    + f"{'-':>8}{memory[key, 3]:8.0f}"
                )
    for dist, reason in missing.items():
        print(f"  {dist:<24} n/a ({reason})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3,000 rows, fewer saves: a smoke run"
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="only plain Django and django-typed-signals",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="repeats of each load (default 5); construction and saves get "
        "three times as many",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a django-typed-signals row is over its target",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.quick:  # a smoke run (CI): every case runs, the numbers are rough
        rows, constructions, saves = 3_000, 2_000, 100
    else:
        rows, constructions, saves = 100_000, 10_000, 500
    memory_rows = 2_000  # tracemalloc slows down a lot past a few thousand
    load_repeats = max(args.repeats, 1)  # medians want 5 or more
    small_repeats = 3 * load_repeats  # short runs: more of them

    vs, missing = variants(peers=not args.no_peers)
    customer_id = create_rows(rows)
    ROWS[:] = m.PlainOrder.objects.values_list(*NAMES)
    kwargs = order_kwargs(7, customer_id)
    missing |= warm_up(vs, pk=rows, kwargs=kwargs)
    list(TypedOrderAll.objects.all()[:2000])
    save("typed-all", TypedOrderAll, 50, rows)(True)
    SAVES.clear()
    for key in m.FIRED:
        m.FIRED[key] = 0
    labels = {v.key: v.label for v in vs}
    labels = {  # in this order: ours, the row of 3 scalar fields, the peers
        "plain": labels.pop("plain"),
        "typed": labels.pop("typed"),
        "typed-scalars": SCALARS_LABEL,
        "typed-all": ALL_LABEL,
        **labels,
    }
    gc.collect()
    gc.freeze()  # Django's own objects: out of every later collection
    print_header("quick" if args.quick else "full", vs, missing, rows)

    def load_case(how: str, fields: int, task: Callable[[Any], Task]) -> Case:
        tracked = "1 tracked field" if fields == 1 else f"{fields} tracked fields"
        return Case(
            f"{how}, {rows:,} rows, {tracked}",
            "load",
            rows,
            "us/row",
            load_repeats,
            {v.key: task(v.one if fields == 1 else v.three) for v in vs},
        )

    list_1 = load_case("list(Model.objects.all())", 1, load_list)
    list_3 = load_case("list(Model.objects.all())", 3, load_list)
    iter_1 = load_case("Model.objects.iterator()", 1, load_iterator)
    iter_3 = load_case("Model.objects.iterator()", 3, load_iterator)
    loading = Case(
        f"Model.from_db() on fetched rows, {rows:,} rows, 1 tracked field",
        "from_db",
        rows,
        "us/row",
        load_repeats,
        {v.key: from_db(v.one) for v in vs},
    )
    init = Case(
        f"Model(**kwargs), {constructions:,} instances",
        "construct",
        constructions,
        "us/obj",
        small_repeats,
        {v.key: construct(v.one, constructions, kwargs) for v in vs},
    )
    saving = Case(
        f"save() that fires one receiver (status changed), {saves:,} saves",
        "save",
        saves,
        "us/save",
        small_repeats,
        {v.key: save(v.key, v.one, saves, pk=i + 1) for i, v in enumerate(vs)},
    )
    saving_some = Case(
        f"save(update_fields=['status']), same receiver, {saves:,} saves",
        "save",
        saves,
        "us/save",
        small_repeats,
        {
            v.key: save(v.key, v.one, saves, pk=i + 1, update_fields=["status"])
            for i, v in enumerate(vs)
        },
    )
    for case, task in ((list_3, load_list), (iter_3, load_iterator)):
        case.tasks["typed-scalars"] = task(m.TypedOrder3Scalars)
        case.tasks["typed-all"] = task(TypedOrderAll)
    loading.tasks["typed-all"] = from_db(TypedOrderAll)
    pk_all = len(vs) + 1
    saving.tasks["typed-all"] = save("typed-all", TypedOrderAll, saves, pk_all)
    saving_some.tasks["typed-all"] = save(
        "typed-all", TypedOrderAll, saves, pk_all, update_fields=["status"]
    )
    # A model that tracks every field anyway is loaded once for both counts.
    for three, one in ((list_3, list_1), (iter_3, iter_1)):
        for v in vs:
            if v.three is v.one and v.key != "plain":
                del three.tasks[v.key]
                three.same_as[v.key] = one
    cases = [list_1, list_3, iter_1, iter_3, loading, init, saving, saving_some]
    run_cases(cases)

    memory = {
        ("typed-scalars", 3): memory_per_instance(m.TypedOrder3Scalars, memory_rows),
        ("typed-all", 3): memory_per_instance(TypedOrderAll, memory_rows),
    }
    for v in vs:
        memory[v.key, 1] = memory_per_instance(v.one, memory_rows)
        memory[v.key, 3] = (
            memory[v.key, 1]
            if v.three is v.one
            else memory_per_instance(v.three, memory_rows)
        )

    for case in cases:
        print_case(case, labels)
    print_memory(vs, memory, memory_rows)
    print_summary(cases, vs, memory, missing)

    print()
    unfired = [key for key, runs in SAVES.items() if m.FIRED[key] != runs]
    for key in unfired:
        print(
            f"WARNING: {labels[key]}'s receiver fired {m.FIRED[key]} times "
            f"in {SAVES[key]} saves: its save row is not comparable"
        )
    over = [
        case.title + ("" if key == "typed" else f" ({labels[key].strip()})")
        for case in cases
        for key in OURS
        if key in case.tasks and case.verdict(key).endswith("OVER")
    ]
    print(f"django-typed-signals: {len(over)} row(s) over target" + ":" * bool(over))
    for title in over:
        print(f"  {title}")
    print(f"took {time.perf_counter() - started:.0f} s")
    return 1 if args.check and (over or unfired) else 0


if __name__ == "__main__":
    sys.exit(main())
