"""Django's own ``dispatch`` and ``signals`` test suites, run against our Signal.

``django_typed_signals.Signal`` claims to be a drop-in replacement for
``django.dispatch.Signal``. These tests hold it to that claim with Django's own
tests: the source distribution matching the installed Django version is
downloaded once (``pip download``), its ``tests/`` directory is extracted under
``.cache/django-sdist/`` in the repository root, and
``tests/django_suites/run_with_typed_signal.py`` runs ``runtests.py dispatch
signals`` with every Django signal built from our class.

Set ``DJANGO_SDIST_CACHE`` to use another cache directory.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import django
import pytest

import django_typed_signals

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(
    os.environ.get("DJANGO_SDIST_CACHE") or REPO_ROOT / ".cache" / "django-sdist"
)
WRAPPER = Path(__file__).resolve().parent / "django_suites" / "run_with_typed_signal.py"

APPS = ("dispatch", "signals")

# Tests run by plain Django (``runtests.py dispatch signals``), per release series.
PLAIN_DJANGO_TEST_COUNTS = {(5, 2): 41, (6, 1): 55}
# A run must execute at least this share of them (and of the test methods
# defined in the extracted sources) for its result to mean anything.
FLOOR_RATIO = 0.8
ABSOLUTE_FLOOR = 30

MARKER_VERIFIED = "typed-signal-compat: substitution verified:"
TAIL_LINES = 80
REPORT_LINES = 400


# --------------------------------------------------------------------------
# Django source distribution
# --------------------------------------------------------------------------


def _download_sdist(version: str) -> Path:
    tarball = CACHE_DIR / f"django-{version}.tar.gz"
    if tarball.is_file():
        return tarball
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=".download-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download",
            "--no-deps", "--no-binary", ":all:",
            f"django=={version}", "-d", tmp,
        ]  # fmt: skip
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=900, env=env, check=False
        )
        if proc.returncode != 0:
            pytest.fail(
                f"could not download the Django {version} source distribution:\n"
                f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}",
                pytrace=False,
            )
        found = [p for p in Path(tmp).iterdir() if p.name.lower() == tarball.name]
        if len(found) != 1:
            pytest.fail(
                f"pip download did not produce {tarball.name}: "
                f"{sorted(p.name for p in Path(tmp).iterdir())}",
                pytrace=False,
            )
        os.replace(found[0], tarball)
    return tarball


def _wanted(parts: tuple[str, ...], member: tarfile.TarInfo) -> bool:
    """runtests.py and its top-level helpers, plus the suites we run."""
    if len(parts) < 3 or parts[1] != "tests":
        return False
    if len(parts) == 3:
        return member.isfile()
    return parts[2] in APPS


def _extract_tests(tarball: Path, version: str) -> Path:
    target = CACHE_DIR / f"django-{version}"
    tests_dir = target / "tests"
    if (tests_dir / "runtests.py").is_file():
        return tests_dir
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=".extract-") as tmp:
        staging = Path(tmp) / "django"
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                if not _wanted(parts, member):
                    continue
                member.name = str(PurePosixPath(*parts[1:]))
                if hasattr(tarfile, "data_filter"):
                    tar.extract(member, staging, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tar.extract(member, staging)
        if not (staging / "tests" / "runtests.py").is_file():
            pytest.fail(f"{tarball} has no tests/runtests.py", pytrace=False)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished first; use its copy.
            if not (tests_dir / "runtests.py").is_file():
                raise
    return tests_dir


@pytest.fixture(scope="module")
def django_tests_dir() -> Path:
    version = django.__version__
    tests_dir = _extract_tests(_download_sdist(version), version)
    for app in APPS:
        assert (tests_dir / app / "tests.py").is_file(), f"{app} suite missing"
    return tests_dir


# --------------------------------------------------------------------------
# Running the suites
# --------------------------------------------------------------------------


def _subprocess_env(pythonpath: tuple[Path, ...] = ()) -> dict[str, str]:
    # The directory django_typed_signals is imported from (the repository
    # root for a checkout, site-packages for an installed copy).
    package_root = Path(django_typed_signals.__file__).resolve().parent.parent
    paths = [str(package_root), *map(str, pythonpath)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # runtests.py takes --settings
    return env


def _run_suites(
    tests_dir: Path,
    labels: tuple[str, ...] = APPS,
    *,
    signal_class: str | None = None,
    pythonpath: tuple[Path, ...] = (),
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(WRAPPER), "--django-tests", str(tests_dir)]
    if signal_class is not None:
        cmd += ["--signal-class", signal_class]
    cmd += [
        "--",
        *labels,
        "--settings=test_sqlite",
        "--parallel=1",
        "-v",
        "2",
        "--noinput",
    ]

    env = _subprocess_env(pythonpath)
    return subprocess.run(
        cmd,
        cwd=tests_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )


def _describe(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit status plus the failure reports (or the tail) of the output."""
    lines = proc.stdout.splitlines()
    first_report = next(
        (i for i, line in enumerate(lines) if re.match(r"(FAIL|ERROR): ", line)), None
    )
    if first_report is None:
        excerpt, what = lines[-TAIL_LINES:], "output tail"
    else:
        failing = [
            line
            for line in lines[:first_report]
            if re.search(r" \.\.\. (FAIL|ERROR)$", line)
        ]
        excerpt = [*failing, "", *lines[first_report - 1 :][:REPORT_LINES]]
        what = "failing tests and their reports"
    return f"exit status {proc.returncode}; {what}:\n" + "\n".join(excerpt)


def _ran(output: str) -> int:
    match = re.search(r"^Ran (\d+) tests? in ", output, re.MULTILINE)
    assert match, "no 'Ran N tests' line in the output"
    return int(match.group(1))


def _not_really_run(output: str) -> int:
    """Tests counted in 'Ran N' that were skipped or expected to fail."""
    match = re.search(r"^(?:OK|FAILED) \((.*)\)$", output, re.MULTILINE)
    if not match:
        return 0
    counts = dict(re.findall(r"([a-z ]+)=(\d+)", match.group(1)))
    return sum(int(counts.get(key, 0)) for key in ("skipped", "expected failures"))


def _test_ids(output: str, app: str) -> set[str]:
    """Test ids of ``app`` reported by the verbose unittest runner."""
    pattern = rf"^(test\w*) \(({re.escape(app)}\.tests\.[\w.]+)\)"
    return {f"{cls}:{name}" for name, cls in re.findall(pattern, output, re.MULTILINE)}


def _defined_tests(tests_dir: Path, app: str) -> int:
    source = (tests_dir / app / "tests.py").read_text(encoding="utf-8")
    return len(re.findall(r"^\s+(?:async\s+)?def test\w*\(", source, re.MULTILINE))


def _floor(tests_dir: Path) -> int:
    defined = sum(_defined_tests(tests_dir, app) for app in APPS)
    measured = PLAIN_DJANGO_TEST_COUNTS.get(django.VERSION[:2], 0)
    return max(ABSOLUTE_FLOOR, math.ceil(FLOOR_RATIO * max(defined, measured)))


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def _check(ok: object, proc: subprocess.CompletedProcess[str], why: str) -> None:
    if not ok:
        pytest.fail(f"{why}\n{_describe(proc)}", pytrace=False)


def test_django_dispatch_and_signals_suites_pass_with_typed_signal(
    django_tests_dir: Path,
) -> None:
    proc = _run_suites(django_tests_dir)
    output = proc.stdout

    _check(proc.returncode == 0, proc, "Django's suites failed with our Signal")
    _check(MARKER_VERIFIED in output, proc, "the substitution was not verified")
    _check(
        "are django_typed_signals.Signal instances" in output,
        proc,
        "the run did not use django_typed_signals.Signal",
    )
    _check(re.search(r"^OK\b", output, re.MULTILINE), proc, "no OK status line")

    ran = _ran(output)
    found = re.search(r"^Found (\d+) test\(s\)\.", output, re.MULTILINE)
    _check(found and int(found.group(1)) == ran, proc, f"Found != Ran ({ran})")
    effective = ran - _not_really_run(output)
    floor = _floor(django_tests_dir)
    _check(effective >= floor, proc, f"only {effective} tests ran, expected >= {floor}")
    for app in APPS:
        app_floor = math.ceil(FLOOR_RATIO * _defined_tests(django_tests_dir, app))
        count = len(_test_ids(output, app))
        _check(
            count >= app_floor,
            proc,
            f"only {count} {app} tests ran, expected >= {app_floor}",
        )


BROKEN_SIGNAL_MODULE = '''
import django_typed_signals


class SignalIgnoringDispatchUid(django_typed_signals.Signal):
    """Forgets dispatch_uid, so duplicate registrations are not prevented."""

    def connect(self, receiver, sender=None, weak=True, dispatch_uid=None, **kwargs):
        return super().connect(receiver, sender, weak, None, **kwargs)
'''


def test_harness_fails_for_a_broken_signal_class(
    django_tests_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "broken_signal.py").write_text(BROKEN_SIGNAL_MODULE, encoding="utf-8")

    proc = _run_suites(
        django_tests_dir,
        ("dispatch",),
        signal_class="broken_signal.SignalIgnoringDispatchUid",
        pythonpath=(tmp_path,),
    )
    output = proc.stdout

    _check(proc.returncode == 1, proc, "the broken class did not fail the run")
    # The broken class really was the one under test...
    _check(MARKER_VERIFIED in output, proc, "the substitution was not verified")
    _check(
        "are broken_signal.SignalIgnoringDispatchUid instances" in output,
        proc,
        "the run did not use the broken class",
    )
    # ...and Django's dispatch_uid test is what caught it.
    _check(
        re.search(r"^FAIL: test_uid_registration \(dispatch\.tests\.", output, re.M),
        proc,
        "Django's test_uid_registration did not fail",
    )


EAGER_SIGNAL_MODULE = """
import django.db.models.signals  # creates Django's model signals right away

import django_typed_signals


class EagerSignal(django_typed_signals.Signal):
    pass
"""


@pytest.mark.parametrize(
    ("signal_class", "status", "message"),
    [
        # Substituting Django's own class would test plain Django.
        ("django.dispatch.Signal", 2, "is django.dispatch.Signal itself"),
        # Signals created before the substitution would stay plain Signals.
        ("eager_signal.EagerSignal", 3, "create signals before the substitution: "),
    ],
)
def test_harness_refuses_runs_that_would_not_exercise_the_class(
    django_tests_dir: Path, tmp_path: Path, signal_class: str, status: int, message: str
) -> None:
    (tmp_path / "eager_signal.py").write_text(EAGER_SIGNAL_MODULE, encoding="utf-8")

    proc = _run_suites(
        django_tests_dir, signal_class=signal_class, pythonpath=(tmp_path,)
    )

    _check(proc.returncode == status, proc, f"expected exit status {status}")
    _check(message in proc.stdout, proc, f"expected {message!r} in the output")
    _check("Ran " not in proc.stdout, proc, "Django's tests ran anyway")


LAZY_IMPORT_CHECK = """
import sys, types
import django.dispatch
import django_typed_signals

ours = django_typed_signals.Signal
for name, module in list(sys.modules.items()):
    if isinstance(module, types.ModuleType):
        for attr, value in list(vars(module).items()):
            kind = type(value)
            if issubclass(kind, django.dispatch.Signal) and not issubclass(kind, ours):
                print(f"{name}.{attr}")
"""


def test_importing_the_package_creates_no_django_signal() -> None:
    """Substituting the class relies on the package importing Django lazily."""
    proc = subprocess.run(
        [sys.executable, "-c", LAZY_IMPORT_CHECK],
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", (
        "importing django_typed_signals created these django.dispatch.Signal "
        f"instances before they could be substituted:\n{proc.stdout}"
    )
