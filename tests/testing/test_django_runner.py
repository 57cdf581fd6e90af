from __future__ import annotations

import os
import subprocess
import sys
import unittest
from pathlib import Path

from tests.testing import django_runner_cases

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_django_test_runner_runs_the_mixin_cases() -> None:
    expected = unittest.defaultTestLoader.loadTestsFromModule(
        django_runner_cases
    ).countTestCases()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "test",
            "tests.testing.django_runner_cases",
            "--settings",
            "tests.testing.django_runner_settings",
            "--noinput",
            "--verbosity",
            "2",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Ran {expected} tests" in output
    assert output.count(" ... ok") == expected, output
    assert expected >= 7
