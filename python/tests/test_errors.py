"""Errors come back as Python exceptions naming file/row/field; Ctrl-C stops a job cleanly."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

import mona


def targets(fixtures):
    return {"math": str(fixtures / "target_math.jsonl")}


def test_bad_record_in_a_list_names_row_and_field(fixtures, model, sae_dir):
    pool = [json.loads(l) for l in (fixtures / "pool.jsonl").read_text().splitlines()]
    pool[5]["messages"][1]["content"] = 7
    with pytest.raises(mona.InvalidInputError) as info:
        mona.select(pool, targets(fixtures), count=2, model=model, sae=sae_dir, threads=1, progress=False)
    e = info.value
    assert isinstance(e, ValueError)
    assert e.file == "<list>" and e.line == 6 and e.row == 5
    assert e.field == "messages[1].content"
    assert "mona-py-" not in str(e)  # the temporary file's path is not shown
    assert "<list>:6" in str(e)


def test_bad_record_in_a_file_names_file_and_line(tmp_path, fixtures, model, sae_dir):
    lines = (fixtures / "pool.jsonl").read_text().splitlines()
    lines[2] = '{"messages": "not a list"}'
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(mona.InvalidInputError) as info:
        mona.select(bad, targets(fixtures), count=2, model=model, sae=sae_dir, threads=1, progress=False)
    assert info.value.file == str(bad) and info.value.line == 3 and info.value.field == "messages"


def test_skip_bad(tmp_path, fixtures, model, sae_dir):
    pool = [json.loads(l) for l in (fixtures / "pool.jsonl").read_text().splitlines()]
    pool[3] = {"nothing": 1}
    sel = mona.select(pool, targets(fixtures), count=2, model=model, sae=sae_dir, threads=1, progress=False,
                      skip_bad=True)
    assert sel.summary["n_pool_skipped"] == 1
    assert 3 not in sel["math"].records.tolist() and len(sel["math"].records) == 39


def test_option_and_input_errors(tmp_path, fixtures, model, sae_dir):
    with pytest.raises(mona.InvalidInputError, match="tokens"):
        mona.select(fixtures / "pool.jsonl", targets(fixtures), model=model, sae=sae_dir, tokens="bogus",
                    progress=False)
    with pytest.raises(mona.NotFoundError):
        mona.select(tmp_path / "missing.jsonl", targets(fixtures), model=model, sae=sae_dir, progress=False)
    with pytest.raises(TypeError, match="row 1"):
        mona.select([{"text": "a"}, "b"], targets(fixtures), model=model, sae=sae_dir, progress=False)
    with pytest.raises(ValueError, match="ratio or count"):
        mona.select([{"text": "a"}], targets(fixtures), ratio=0.1, count=2)
    with pytest.raises(ValueError, match="need a name"):
        mona.select([{"text": "a"}], [[{"text": "b"}]])


def test_ctrl_c_stops_the_job(tmp_path, fixtures, model, sae_dir):
    # A pool far larger than what the tiny model runs in the 0.5 s before SIGINT arrives.
    pool = tmp_path / "big.jsonl"
    with open(pool, "w") as f:
        for i in range(100_000):
            f.write(json.dumps({"text": f"sample {i} about numbers and soup and maps {i * 7}"}) + "\n")
    # Python's own SIGINT handler, whatever this process inherited (a shell's background job ignores SIGINT).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            mona.select(pool, targets(fixtures), count=2, out=tmp_path / "o", model=model, sae=sae_dir, threads=1,
                        progress=False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # Stopped like a failed run: nothing committed, the run folder (created by the run) removed again.
    assert not (tmp_path / "o").exists()
