"""Fixtures of the pytest suite: the tiny model, SAE and JSONL files (written by mona_py_fixtures, the integration
tests' own writers) and the `mona` binary to compare against.

Environment (scripts/test.sh sets them): MONA_BIN (the CLI), MONA_PY_FIXTURES (the fixture writer); both default to
<repo>/build/bin/. PYTHONPATH must reach the `mona` package (<build>/python, or an installed wheel).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _binary(env: str, name: str) -> str:
    path = os.environ.get(env) or str(ROOT / "build" / "bin" / name)
    if not os.access(path, os.X_OK):
        pytest.exit(f"{name} not found at {path}: build it (scripts/test.sh does) or set {env}", returncode=2)
    return path


@pytest.fixture(scope="session")
def mona_bin() -> str:
    return _binary("MONA_BIN", "mona")


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fixtures")
    subprocess.run([_binary("MONA_PY_FIXTURES", "mona_py_fixtures"), str(d)], check=True)
    return d


@pytest.fixture(scope="session")
def model(fixtures) -> str:
    return str(fixtures / "tiny.gguf")


@pytest.fixture(scope="session")
def sae_dir(fixtures) -> str:
    return str(fixtures / "sae" / "layers.1")


@pytest.fixture(autouse=True)
def _no_mona_env(monkeypatch):
    # Flags may come from MONA_<FLAG> variables in the CLI; none may change the runs compared here.
    for key in list(os.environ):
        if key.startswith("MONA_") and key not in ("MONA_BIN", "MONA_PY_FIXTURES", "MONA_HOME", "MONA_DEMO_RUN"):
            monkeypatch.delenv(key)
