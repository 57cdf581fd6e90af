"""Run Django's own test suite with ``django.dispatch.Signal`` replaced.

Usage::

    python run_with_typed_signal.py --django-tests DIR [--signal-class PATH] \\
        -- dispatch signals --settings=test_sqlite --parallel=1

``DIR`` is the ``tests/`` directory of a Django source distribution (the one
holding ``runtests.py``). ``PATH`` is the dotted path of the replacement class
(default: ``django_typed_signals.Signal``); it must subclass
``django.dispatch.Signal``. Everything after ``--`` is passed to
``runtests.py`` unchanged.

The replacement is installed on ``django.dispatch.Signal`` and
``django.dispatch.dispatcher.Signal`` *before* any module that creates
signals (``django.core.signals``, ``django.db.models.signals``, ...) is
imported, so every built-in Django signal, ``ModelSignal`` and every signal
created by the test modules is built from the replacement class.

After the run the substitution is verified; if it did not take effect the
script exits with status 3 even when the tests passed, so a run can never
silently exercise plain Django. Exit statuses: 0 tests passed and substitution
verified, 1 test failures, 2 usage error, 3 substitution not possible or not
verified.
"""

from __future__ import annotations

import argparse
import importlib
import os
import runpy
import sys
import types
from typing import NoReturn

MARKER = "typed-signal-compat:"

# Built-in signals that every run imports (Django's setup loads the ORM).
EXPECTED_SIGNALS = (
    "django.core.signals.request_started",
    "django.core.signals.setting_changed",
    "django.db.models.signals.post_save",
    "django.db.models.signals.pre_delete",
    "django.db.models.signals.m2m_changed",
)


def _say(message: str) -> None:
    print(f"{MARKER} {message}", file=sys.stderr, flush=True)


def _fail(message: str, status: int = 3) -> NoReturn:
    _say(f"ERROR: {message}")
    raise SystemExit(status)


def _import_object(path: str) -> object:
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        _fail(f"--signal-class must be a dotted path, got {path!r}", 2)
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        _fail(f"module {module_name!r} has no attribute {attr!r}", 2)


def _module_level_signals(base: type) -> list[tuple[str, object]]:
    """Every ``base`` instance bound at module level in an imported module."""
    found = []
    for module_name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType):
            continue
        try:
            namespace = dict(vars(module))
        except TypeError:
            continue
        for attr, value in namespace.items():
            # type() rather than isinstance(): isinstance() consults
            # __class__, which would evaluate lazy objects such as settings.
            if issubclass(type(value), base):
                found.append((f"{module_name}.{attr}", value))
    return found


def _resolve(dotted: str) -> object:
    module_name, _, attr = dotted.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        return None
    return getattr(module, attr, None)


def _verify(original: type, replacement: type, labels: list[str]) -> None:
    problems = []

    signals = _module_level_signals(original)
    plain = [
        name for name, value in signals if not issubclass(type(value), replacement)
    ]
    if plain:
        problems.append(
            "signals not built from the replacement class: " + ", ".join(sorted(plain))
        )

    for dotted in EXPECTED_SIGNALS:
        value = _resolve(dotted)
        if value is None:
            problems.append(f"{dotted} was never imported")
        elif replacement not in type(value).__mro__:
            problems.append(
                f"{dotted} is a {type(value).__module__}.{type(value).__qualname__}, "
                f"whose MRO does not contain the replacement class"
            )

    if "dispatch" in labels:
        module = sys.modules.get("dispatch.tests")
        if module is None:
            problems.append("dispatch.tests was never imported")
        elif getattr(module, "Signal", None) is not replacement:
            problems.append("dispatch.tests.Signal is not the replacement class")

    if "signals" in labels:
        module = sys.modules.get("signals.tests")
        if module is None:
            problems.append("signals.tests was never imported")
        elif module.dispatch.Signal is not replacement:
            problems.append("signals.tests sees a different django.dispatch.Signal")

    if problems:
        _fail("SUBSTITUTION NOT VERIFIED: " + "; ".join(problems))

    post_save = _resolve("django.db.models.signals.post_save")
    mro = " -> ".join(
        f"{c.__module__}.{c.__qualname__}" for c in type(post_save).__mro__
    )
    distinct = len({id(value) for _, value in signals})
    _say(
        f"substitution verified: {distinct} module-level signals are "
        f"{replacement.__module__}.{replacement.__qualname__} instances; "
        f"post_save MRO: {mro}"
    )


def main(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        own, runtests_args = argv[:split], argv[split + 1 :]
    else:
        own, runtests_args = argv, []

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--django-tests", required=True, help="Django's tests/ dir")
    parser.add_argument("--signal-class", default="django_typed_signals.Signal")
    options = parser.parse_args(own)

    tests_dir = os.path.abspath(options.django_tests)
    runtests = os.path.join(tests_dir, "runtests.py")
    if not os.path.isfile(runtests):
        _fail(f"{runtests} does not exist", 2)

    # 1. The original class, and nothing that creates signal instances.
    import django.dispatch
    import django.dispatch.dispatcher

    original = django.dispatch.dispatcher.Signal

    # 2. The replacement class.
    replacement = _import_object(options.signal_class)
    if not isinstance(replacement, type) or not issubclass(replacement, original):
        _fail(f"{options.signal_class} is not a subclass of django.dispatch.Signal", 2)
    if replacement is original:
        _fail(f"{options.signal_class} is django.dispatch.Signal itself", 2)

    # Importing the replacement must not have created any signal yet: such a
    # signal (e.g. django.db.models.signals.post_save) would be a plain
    # django.dispatch.Signal and would stay one for the whole run.
    early = [
        name
        for name, value in _module_level_signals(original)
        if not issubclass(type(value), replacement)
    ]
    if early:
        _fail(
            f"importing {options.signal_class} imported modules that create "
            f"signals before the substitution: {', '.join(sorted(early))}"
        )

    # 3. Substitute.
    django.dispatch.Signal = replacement  # type: ignore[misc]
    django.dispatch.dispatcher.Signal = replacement  # type: ignore[misc]
    _say(
        f"django.dispatch.Signal replaced by "
        f"{replacement.__module__}.{replacement.__qualname__}"
    )

    # 4. Run runtests.py as ``python runtests.py ...`` would.
    labels = [arg for arg in runtests_args if not arg.startswith("-")]
    sys.argv = [runtests, *runtests_args]
    sys.path.insert(0, tests_dir)
    os.chdir(tests_dir)
    status = 0
    try:
        runpy.run_path(runtests, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            status = 0
        elif isinstance(exc.code, int):
            status = exc.code
        else:
            print(exc.code, file=sys.stderr)
            status = 1

    # 5. Prove the run used the replacement.
    _verify(original, replacement, labels)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
