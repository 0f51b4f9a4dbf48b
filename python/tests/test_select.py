"""mona.select / mona.embed / mona.score from Python against the `mona` command on the same tiny fixtures: the
files must be byte-identical and the arrays must be what the files say."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mona

COUNT = 6
RUN = dict(threads=1, batch_tokens=512, progress=False)


def read_bytes(path: Path) -> bytes:
    return Path(path).read_bytes()


def cli_select(mona_bin, fixtures, model, sae_dir, pool, out, *extra):
    cmd = [
        mona_bin, "select", "--model", model, "--sae", sae_dir, "--pool", str(pool),
        "--target", f"math={fixtures / 'target_math.jsonl'}", "--target", f"cooking={fixtures / 'target_cooking.jsonl'}",
        "--count", str(COUNT), "--threads", "1", "--batch-tokens", "512", "--quiet", "--out", str(out), *extra,
    ]
    subprocess.run(cmd, check=True)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, mona_bin, fixtures, model, sae_dir) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    cli_select(mona_bin, fixtures, model, sae_dir, fixtures / "pool.jsonl", out)
    return out


def targets_of(fixtures):
    return {"math": str(fixtures / "target_math.jsonl"), "cooking": str(fixtures / "target_cooking.jsonl")}


def pool_records(fixtures):
    with open(fixtures / "pool.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def cli_ranking(out: Path, target: str):
    """(selected records in rank order, scores as written) parsed straight from the CLI's scores.tsv."""
    rows = [line.split("\t") for line in (out / target / "scores.tsv").read_text().splitlines()[1:]]
    selected = sorted((int(r[7]), int(r[0])) for r in rows if r[8] == "1")
    return [rec for _, rec in selected], [r[6] for r in rows]


def test_select_path_equals_cli(tmp_path, cli_run, fixtures, model, sae_dir):
    out = tmp_path / "py"
    sel = mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=COUNT, out=out, model=model, sae=sae_dir, **RUN)
    assert list(sel) == ["math", "cooking"]
    for name in ("math", "cooking"):
        assert read_bytes(out / name / "scores.tsv") == read_bytes(cli_run / name / "scores.tsv")
        assert read_bytes(out / name / "selected.jsonl") == read_bytes(cli_run / name / "selected.jsonl")
        want_rows, want_scores = cli_ranking(cli_run, name)
        t = sel[name]
        assert t.indices.dtype == np.int64
        assert t.indices.tolist() == want_rows
        assert len(t.indices) == COUNT
        assert t.scores.tolist() == [float(s) for s in want_scores]
        # selected.jsonl holds the pool's lines of those rows, in rank order.
        pool_lines = (fixtures / "pool.jsonl").read_text().splitlines()
        assert (out / name / "selected.jsonl").read_text().splitlines() == [pool_lines[i] for i in t.indices]
    # The manifest is the CLI's but for how (command_line: "" from Python) and how fast it ran.
    want = json.loads((cli_run / "manifest.json").read_text())
    got = dict(sel.manifest)
    for key in ("command_line", "timings_s"):
        want.pop(key)
        assert key in got
        got.pop(key)
    assert got == want
    assert sel.out == str(out)


@pytest.mark.parametrize("kind", ["list", "generator", "pandas", "arrow", "parquet", "datasets", "datasets-iterable"])
def test_select_python_inputs_equal_cli(tmp_path, cli_run, fixtures, model, sae_dir, kind):
    records = pool_records(fixtures)
    if kind == "list":
        pool = records
    elif kind == "generator":
        pool = (r for r in records)
    elif kind == "pandas":
        pd = pytest.importorskip("pandas")
        pool = pd.read_json(fixtures / "pool.jsonl", lines=True)
    elif kind == "arrow":
        pa = pytest.importorskip("pyarrow")
        pool = pa.Table.from_pylist(records)
    elif kind == "parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pool = tmp_path / "pool.parquet"
        pq.write_table(pa.Table.from_pylist(records), pool, row_group_size=7)
    else:
        import datasets  # pinned in python/requirements.txt: a missing package fails here rather than skipping

        pool = datasets.Dataset.from_list(records)
        if kind == "datasets-iterable":
            pool = pool.to_iterable_dataset(num_shards=3)
    targets = targets_of(fixtures)
    targets["cooking"] = pool_records_from(fixtures / "target_cooking.jsonl")  # exemplars as a list of dicts too
    sel = mona.select(pool, targets, count=COUNT, model=model, sae=sae_dir, **RUN)
    assert sel.out is None
    for name in ("math", "cooking"):
        want_rows, want_scores = cli_ranking(cli_run, name)
        assert sel[name].indices.tolist() == want_rows
        assert sel[name].scores.tolist() == [float(s) for s in want_scores]


def pool_records_from(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_to_pandas(cli_run, fixtures, model, sae_dir):
    pd = pytest.importorskip("pandas")
    sel = mona.select(fixtures / "pool.jsonl", targets_of(fixtures), ratio=0.1, model=model, sae=sae_dir, **RUN)
    df = sel["math"].to_pandas()
    assert list(df.columns) == ["record", "id", "line", "task", "n_tokens", "truncated", "score", "rank", "selected"]
    assert df["rank"].tolist() == sorted(df["rank"].tolist())
    assert df.loc[df["selected"], "record"].tolist() == sel["math"].indices.tolist()
    assert len(sel["math"].indices) == 4  # round(0.1 x 40)
    both = sel.to_pandas()
    assert set(both["target"]) == {"math", "cooking"} and len(both) == 80
    assert isinstance(both, pd.DataFrame)


def test_embed_then_score_equals_cli(tmp_path, mona_bin, fixtures, model, sae_dir):
    store = tmp_path / "store"
    summary = mona.embed(fixtures / "pool.jsonl", store, model=model, sae=sae_dir, **RUN)
    assert summary["n_embedded"] == 40 and summary["store_size"] == 40
    sel = mona.score(store, targets_of(fixtures), count=COUNT, out=tmp_path / "py", threads=1, progress=False)
    cli_out = tmp_path / "cli"
    subprocess.run(
        [mona_bin, "score", "--store", str(store), "--target", f"math={fixtures / 'target_math.jsonl'}",
         "--target", f"cooking={fixtures / 'target_cooking.jsonl'}", "--count", str(COUNT), "--threads", "1",
         "--quiet", "--out", str(cli_out)],
        check=True,
    )
    for name in ("math", "cooking"):
        assert read_bytes(tmp_path / "py" / name / "scores.tsv") == read_bytes(cli_out / name / "scores.tsv")
        assert sel[name].indices.tolist() == cli_ranking(cli_out, name)[0]


def test_progress_callback(fixtures, model, sae_dir):
    updates = []
    mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=2, model=model, sae=sae_dir, threads=1,
                progress=updates.append)
    finals = [u for u in updates if u["final"]]
    assert finals, updates
    assert any(u["n_samples"] == 40 for u in finals)
    assert all(set(u) == {"stage", "n_samples", "n_tokens", "seconds", "final", "line"} for u in updates)


def test_progress_default_is_a_tqdm_bar(capsys, fixtures, model, sae_dir):
    import tqdm  # noqa: F401  (pinned in python/requirements.txt)

    # A Python pool is counted while it is staged, so the bar knows its total (a path's total is not counted).
    mona.select(pool_records(fixtures), targets_of(fixtures), count=2, model=model, sae=sae_dir, threads=1)
    err = capsys.readouterr().err
    assert "mona embed" in err or "mona pool" in err, err
    assert "40/40" in err, err  # the pool bar reaches its total


def test_progress_callback_error_propagates(tmp_path, fixtures, model, sae_dir):
    def boom(update):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=2, out=tmp_path / "o", model=model,
                    sae=sae_dir, threads=1, progress=boom)


def test_example_script(tmp_path, fixtures, model, sae_dir):
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[1] / "examples" / "select_parquet.py"
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, str(example), str(fixtures / "pool.jsonl"), f"math={fixtures / 'target_math.jsonl'}",
         "--model", model, "--sae", sae_dir, "--out", str(out), "--ratio", "0.1", "--threads", "1"],
        check=True, capture_output=True, text=True,
    )
    assert "math: 4 of 40 selected" in res.stdout
    assert (out / "math" / "scores.tsv").exists()


def test_eval_equals_cli(tmp_path, mona_bin, fixtures, model, sae_dir):
    cli_out = tmp_path / "cli"
    subprocess.run(
        [mona_bin, "eval", "--model", model, "--sae", sae_dir, "--pool", str(fixtures / "pool.jsonl"),
         "--target", f"math={fixtures / 'target_math.jsonl'}", "--target", f"cooking={fixtures / 'target_cooking.jsonl'}",
         "--count", "5", "--threads", "1", "--method", "mona", "--method", "random", "--quiet", "--out", str(cli_out)],
        check=True,
    )
    result = mona.eval(fixtures / "pool.jsonl", targets_of(fixtures), out=tmp_path / "py", count=5,
                       methods=["mona", "random"], model=model, sae=sae_dir, threads=1, progress=False)
    want = json.loads((cli_out / "eval.json").read_text())
    summary = result.pop("summary")
    for key in ("command_line", "timings_s"):  # how and how fast it ran
        want.pop(key)
        result.pop(key)
    assert result == want
    assert summary["methods"] == ["mona", "random"]
    assert [t["name"] for t in summary["targets"]] == ["math", "cooking"]
    for name in ("math", "cooking"):
        for f in sorted((cli_out / name).rglob("*")):
            if f.is_file():
                assert read_bytes(tmp_path / "py" / f.relative_to(cli_out)) == read_bytes(f), f


def test_merge_equals_cli(tmp_path, mona_bin, fixtures, model, sae_dir):
    cli_out = tmp_path / "cli"
    cli_select(mona_bin, fixtures, model, sae_dir, fixtures / "pool.jsonl", cli_out, "--merge", "quota",
               "--quota", "math=3", "--quota", "cooking=1")
    sel = mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=COUNT, out=tmp_path / "py", model=model,
                      sae=sae_dir, merge="quota", quotas={"math": 3, "cooking": 1}, **RUN)
    for f in ("selected.tsv", "selected.jsonl"):
        assert read_bytes(tmp_path / "py" / "merged" / f) == read_bytes(cli_out / "merged" / f)
    rows = [int(line.split("\t")[1]) for line in (cli_out / "merged" / "selected.tsv").read_text().splitlines()[1:]]
    assert sel.merged.tolist() == rows and len(rows) == COUNT
    assert sel.summary["n_merged"] == COUNT


def test_beyond_the_paper_options_equal_cli(tmp_path, mona_bin, fixtures, model, sae_dir):
    # --diversity, --dedup, --coverage and --label from Python: the same files as the command's.
    cli_out = tmp_path / "cli"
    cli_select(mona_bin, fixtures, model, sae_dir, fixtures / "pool.jsonl", cli_out, "--diversity", "0.5",
               "--diversity-candidates", "3", "--dedup", "0.6", "--coverage", "--label", "cooking=geography")
    sel = mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=COUNT, out=tmp_path / "py", model=model,
                      sae=sae_dir, diversity=0.5, diversity_candidates=3, dedup=0.6, coverage=True,
                      labels={"cooking": "geography"}, **RUN)
    for f in ("math/selected.jsonl", "math/scores.tsv", "cooking/selected.jsonl", "cooking/scores.tsv", "dropped.tsv"):
        assert read_bytes(tmp_path / "py" / f) == read_bytes(cli_out / f), f
    manifest = json.loads((cli_out / "manifest.json").read_text())
    assert manifest["parameters"]["diversity"] == sel.manifest["parameters"]["diversity"]
    assert "selection" in sel.manifest["targets"][0]  # coverage
    assert "precision vs <b>geography</b>" in (tmp_path / "py" / "report.html").read_text()
    with pytest.raises(mona.InvalidInputError):
        mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=COUNT, model=model, sae=sae_dir,
                    diversity=-1.0, **RUN)


def test_progress_false_is_silent(capfd, fixtures, model, sae_dir):
    mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=2, model=model, sae=sae_dir, threads=1,
                progress=False)
    assert "mona: " not in capfd.readouterr().err


def test_prototype_and_length_strata_equal_cli(tmp_path, mona_bin, fixtures, model, sae_dir):
    # --prototype contrast:BETA and --length-strata B from Python: the same files as the command's.
    cli_out = tmp_path / "cli"
    cli_select(mona_bin, fixtures, model, sae_dir, fixtures / "pool.jsonl", cli_out, "--prototype", "contrast:1",
               "--length-strata", "3")
    sel = mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=COUNT, out=tmp_path / "py", model=model,
                      sae=sae_dir, prototype="contrast:1", length_strata=3, **RUN)
    for f in ("math/selected.jsonl", "math/scores.tsv", "cooking/selected.jsonl", "cooking/scores.tsv"):
        assert read_bytes(tmp_path / "py" / f) == read_bytes(cli_out / f), f
    assert sel.manifest["parameters"]["prototype"] == {"rule": "contrast", "beta": 1.0}
    assert sel.manifest["parameters"]["length_strata"] == 3
    with pytest.raises(mona.InvalidInputError):
        mona.select(fixtures / "pool.jsonl", targets_of(fixtures), count=COUNT, model=model, sae=sae_dir,
                    prototype="contrast:0", **RUN)
