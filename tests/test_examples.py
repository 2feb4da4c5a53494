"""Every example under ``examples/`` passes on its own, run as ``pytest examples/<name>`` is,
and the first test of ``docs/testing.md`` is the quickstart example, word for word."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import stores

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(
    path.name
    for path in (ROOT / "examples").iterdir()
    if path.is_dir() and any(path.glob("test_*.py"))
)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_passes_on_its_own(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if stores.on_postgresql():
        env["SSOOIDC_TEST_DATABASE_URL"] = stores.POSTGRES
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"examples/{name}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]


def test_the_guide_starts_with_the_quickstart_example() -> None:
    example = (ROOT / "examples" / "quickstart" / "test_quickstart.py").read_text()
    body = example.split('"""', 2)[2].strip()
    assert body in (ROOT / "docs" / "testing.md").read_text()
