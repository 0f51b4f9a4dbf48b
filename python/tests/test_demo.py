"""mona.select on `mona demo`'s pool equals the demo's own selection byte for byte (default model and SAE).

Runs where the README's set-up ran `build/bin/mona demo` (CI does, before scripts/test.sh): it reads that run's
inputs and outputs from runs/demo (or MONA_DEMO_RUN) and makes one model pass over the 320-sample demo pool."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mona

ROOT = Path(__file__).resolve().parents[2]


def find_settings(node):
    """The manifest's run-settings record (the object holding batch_tokens)."""
    if isinstance(node, dict):
        if "batch_tokens" in node and "threads" in node:
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = find_settings(child)
        if found is not None:
            return found
    return None


def test_demo_pool_equals_cli(tmp_path, monkeypatch):
    demo = Path(os.environ.get("MONA_DEMO_RUN") or ROOT / "runs" / "demo")
    if not (demo / "manifest.json").exists():
        pytest.skip(f"no `mona demo` run at {demo} (run build/bin/mona demo, as the README's set-up line does)")
    manifest = json.loads((demo / "manifest.json").read_text())
    # The paths exactly as the demo recorded them (relative to where it ran: the repository root).
    monkeypatch.chdir(ROOT)
    targets = {t["name"]: t["path"] for t in manifest["targets"]}
    settings = find_settings(manifest)  # the demo's run settings, threads and batch size included
    sel = mona.select(
        manifest["pool"]["path"],
        targets,
        count=20,
        out=tmp_path / "run",
        progress=False,
        **{key: settings[key] for key in ("tokens", "pooling", "format", "template", "max_tokens", "batch_tokens", "threads")},
    )
    for t in targets:
        assert (tmp_path / "run" / t / "scores.tsv").read_bytes() == (demo / t / "scores.tsv").read_bytes(), t
        assert (tmp_path / "run" / t / "selected.jsonl").read_bytes() == (demo / t / "selected.jsonl").read_bytes()
        assert len(sel[t].indices) == 20
    for key in ("command_line", "timings_s"):
        manifest.pop(key)
        sel.manifest.pop(key)
    assert sel.manifest == manifest
