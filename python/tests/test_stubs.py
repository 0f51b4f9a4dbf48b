"""The committed type stubs python/mona/_mona.pyi are what nanobind's stubgen makes of the built module now
(regenerate: python -m nanobind.stubgen -q -m mona._mona -o python/mona/_mona.pyi), and the package's public
names are typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mona

PKG = Path(__file__).resolve().parents[1] / "mona"


def test_stubs_are_current(tmp_path):
    pytest.importorskip("nanobind.stubgen")
    out = tmp_path / "_mona.pyi"
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "mona._mona", "-o", str(out)], check=True)
    assert out.read_text() == (PKG / "_mona.pyi").read_text(), "python/mona/_mona.pyi is stale: regenerate it"


def test_public_api_is_documented_and_typed():
    assert (PKG / "py.typed").exists()
    for name in mona.__all__:
        obj = getattr(mona, name)
        assert obj.__doc__, f"mona.{name} has no docstring"
    for fn in (mona.select, mona.embed, mona.score, mona.eval, mona.pool, mona.jaccard):
        assert "return" in fn.__annotations__, fn.__name__
    # help(mona.select) lists every parameter, as `mona select --help` lists every flag.
    import inspect

    doc = mona.select.__doc__
    for p in inspect.signature(mona.select).parameters:
        assert f"{p}:" in doc or f"{p}," in doc, p
