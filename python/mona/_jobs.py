"""The jobs of the `mona` command as Python calls: select, embed, score, eval.

Each runs the C++ job (mona/jobs.hpp) in this process with the GIL released, writes exactly the files the
command writes, and returns Python objects read back from them (so a Python selection equals the CLI's byte for
byte: it is the same code writing the same scores.tsv).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _mona
from ._errors import MonaError
from ._inputs import Staged
from ._progress import ProgressArg, make_progress

PathLike = Union[str, "os.PathLike[str]"]
Records = Any  # a path, a DataFrame, a pyarrow Table, a datasets.Dataset or an iterable of dicts
Targets = Union[Mapping[str, Records], Sequence[PathLike]]


class TargetSelection:
    """One target's results: the whole ranking of the pool, from `<out>/<target>/scores.tsv`.

    Attributes:
        name: the target's name.
        indices: numpy int64, the selected pool rows (0-based record index in the pool), in rank order.
        scores: numpy float64, every scored pool sample's score, in pool order (the 9 significant digits of
            scores.tsv: float32 precision).
        records: numpy int64, the record index of each row of `scores` (equal to arange(n) unless records were
            skipped with skip_bad).
        ranks: numpy int64, each row's rank (1 = best).
        selected: numpy bool, whether each row is selected.
        ids, tasks: lists of str, each row's id and task fields ("" when absent).
        n_tokens: numpy int64; truncated: numpy bool.
    """

    def __init__(self, name: str, scores_tsv: str):
        self.name = name
        records, ids, lines, tasks, n_tokens, truncated, scores, ranks, selected = [], [], [], [], [], [], [], [], []
        with open(scores_tsv, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            if header[:9] != ["record", "id", "line", "task", "n_tokens", "truncated", "score", "rank", "selected"]:
                raise MonaError(f"{scores_tsv}: unexpected header {header}")
            for line in f:
                c = line.rstrip("\n").split("\t")
                records.append(int(c[0]))
                ids.append(c[1])
                lines.append(int(c[2]))
                tasks.append(c[3])
                n_tokens.append(int(c[4]))
                truncated.append(c[5] == "1")
                scores.append(float(c[6]))
                ranks.append(int(c[7]))
                selected.append(c[8] == "1")
        self.records = np.asarray(records, dtype=np.int64)
        self.ids = ids
        self.lines = np.asarray(lines, dtype=np.int64)
        self.tasks = tasks
        self.n_tokens = np.asarray(n_tokens, dtype=np.int64)
        self.truncated = np.asarray(truncated, dtype=bool)
        self.scores = np.asarray(scores, dtype=np.float64)
        self.ranks = np.asarray(ranks, dtype=np.int64)
        self.selected = np.asarray(selected, dtype=bool)
        order = np.argsort(self.ranks[self.selected], kind="stable")
        self.indices = self.records[self.selected][order]

    def to_pandas(self):
        """The ranking as a pandas DataFrame (the columns of scores.tsv), sorted by rank."""
        import pandas as pd

        df = pd.DataFrame(
            {
                "record": self.records,
                "id": self.ids,
                "line": self.lines,
                "task": self.tasks,
                "n_tokens": self.n_tokens,
                "truncated": self.truncated,
                "score": self.scores,
                "rank": self.ranks,
                "selected": self.selected,
            }
        )
        return df.sort_values("rank", kind="stable").reset_index(drop=True)

    def __repr__(self) -> str:
        return f"TargetSelection({self.name!r}, {len(self.indices)} of {len(self.scores)} selected)"


class Selection:
    """The result of mona.select / mona.score: one TargetSelection per target, the manifest and the counts.

    selection["gsm8k"].indices, selection.targets (dict name -> TargetSelection), selection.manifest (the run's
    manifest.json as a dict), selection.summary (counts and timings), selection.out (the run folder, or None
    when it was temporary), selection.to_pandas() (every target's ranking in one DataFrame, column `target`).
    """

    def __init__(self, out: str, summary: dict, keep: bool):
        self.summary = summary
        self.out: Optional[str] = out if keep else None
        self.targets: Dict[str, TargetSelection] = {
            t["name"]: TargetSelection(t["name"], os.path.join(out, t["name"], "scores.tsv")) for t in summary["targets"]
        }
        with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
            self.manifest: dict = json.load(f)
        self.merged: Optional[np.ndarray] = None
        merged_tsv = os.path.join(out, "merged", "selected.tsv")
        if os.path.exists(merged_tsv):
            with open(merged_tsv, encoding="utf-8") as f:
                f.readline()
                self.merged = np.asarray([int(line.split("\t")[1]) for line in f], dtype=np.int64)

    def __getitem__(self, name: str) -> TargetSelection:
        return self.targets[name]

    def __iter__(self):
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def to_pandas(self):
        """Every target's ranking (TargetSelection.to_pandas) stacked, with a `target` column first."""
        import pandas as pd

        frames = []
        for name, t in self.targets.items():
            df = t.to_pandas()
            df.insert(0, "target", name)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}: {len(t.indices)}" for n, t in self.targets.items())
        return f"Selection({{{inner}}})"


def _target_list(targets: Targets, staged: Staged) -> List[tuple]:
    if isinstance(targets, Mapping):
        items = list(targets.items())
    elif isinstance(targets, (str, os.PathLike)):
        items = [("", targets)]
    else:
        items = [("", t) for t in targets]
    if not items:
        raise ValueError("targets: give at least one target (name -> exemplars)")
    out = []
    for i, (name, exemplars) in enumerate(items):
        if not name and not isinstance(exemplars, (str, os.PathLike)):
            raise ValueError("targets: exemplars given as a Python object need a name: targets={'name': ...}")
        path = staged.path_of(exemplars, f"target-{i}")
        out.append((name or "", path))
    return out


def _common(
    *, model, sae, layer, k, tokens, pooling, format, template, system_prompt, cpu_repack, max_tokens, batch_tokens, threads, skip_bad
) -> dict:
    return {
        "model": os.fspath(model) if model is not None else "",
        "sae": os.fspath(sae) if sae is not None else "",
        "layer": -1 if layer is None else int(layer),
        "k": 0 if k is None else int(k),
        "tokens": tokens,
        "pooling": pooling,
        "format": format,
        "template": template,
        "system_prompt": system_prompt,
        "cpu_repack": bool(cpu_repack),
        "max_tokens": int(max_tokens),
        "batch_tokens": int(batch_tokens),
        "threads": int(threads),
        "skip_bad": bool(skip_bad),
    }


def _run(fn, staged: Staged, progress: ProgressArg, n_rows: Optional[int], *args):
    callback, close = make_progress(progress, n_rows)
    try:
        return fn(*args, callback)
    except MonaError as e:
        raise staged.relocate(e) from None
    finally:
        close()


def _selection_options(
    staged, targets, ratio, count, merge, quotas, labels, diversity, diversity_candidates, dedup, dedup_against,
    coverage, prototype, length_strata,
) -> Dict[str, Any]:
    """The options select and score share: targets, how many samples, and the rules that pick them."""
    return {
        "targets": _target_list(targets, staged),
        "ratio": 0.05 if ratio is None else float(ratio),
        "count": 0 if count is None else int(count),
        "merge": merge,
        "quotas": list((quotas or {}).items()),
        "labels": list((labels or {}).items()),
        "diversity": float(diversity),
        "diversity_candidates": int(diversity_candidates),
        "dedup": float(dedup),
        "dedup_against": os.fspath(dedup_against) if dedup_against is not None else "",
        "coverage": bool(coverage),
        "prototype": str(prototype),
        "length_strata": int(length_strata),
    }


def _run_selection(job, prefix, out, staged, progress, n_rows, options, *args) -> "Selection":
    """Runs select or score into `out`, or into a temporary folder removed once the Selection has read it."""
    keep = out is not None
    run_dir = os.fspath(out) if keep else tempfile.mkdtemp(prefix=prefix)
    options["out"] = run_dir
    try:
        summary = _run(job, staged, progress, n_rows, options, *args)
        return Selection(run_dir, summary, keep)
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)

def select(
    pool: Records,
    targets: Targets,
    ratio: Optional[float] = None,
    count: Optional[int] = None,
    out: Optional[PathLike] = None,
    *,
    model: Optional[PathLike] = None,
    sae: Optional[PathLike] = None,
    layer: Optional[int] = None,
    k: Optional[int] = None,
    tokens: str = "no-bos",
    pooling: str = "mean",
    max_tokens: int = 2048,
    batch_tokens: int = 512,
    threads: int = 0,
    template: str = "model",
    cpu_repack: bool = False,
    system_prompt: Optional[str] = None,
    format: str = "auto",
    skip_bad: bool = False,
    merge: str = "none",
    quotas: Optional[Mapping[str, float]] = None,
    labels: Optional[Mapping[str, str]] = None,
    diversity: float = 0.0,
    diversity_candidates: int = 4,
    dedup: float = 0.0,
    dedup_against: Optional[PathLike] = None,
    coverage: bool = False,
    prototype: str = "mean",
    length_strata: int = 0,
    store: Optional[PathLike] = None,
    shard_rows: int = 0,
    progress: ProgressArg = True,
) -> Selection:
    """Select the pool samples most similar to each target task (MoNA): `mona select`.

    Args:
        pool: pool of candidate samples: a path (JSONL, JSON array, optionally gzip; or .parquet), a pandas
            DataFrame, a pyarrow Table, a datasets.Dataset / IterableDataset, or an iterable of dicts.
        targets: target exemplars of each task, {name: exemplars} (each a path or any of the pool's kinds), or a
            list of paths (named by their file stems).
        ratio: select round(ratio x pool size) samples per target (default 0.05).
        count: select this many samples per target (instead of ratio).
        out: run folder: one subfolder per target (selected.jsonl, scores.tsv), report.html, manifest.json, as
            `mona select --out`; None = a temporary folder, removed once the results are read.
        model: GGUF selection model [default: the built-in SmolLM2-135M-Instruct].
        sae: SAE folder (sparsify cfg.json + sae.safetensors, or SAELens) [default: the built-in SAE].
        layer: residual stream layer, HF hidden_states[L] numbering [default: the SAE's own layer, else n_layer-1].
        k: TopK k, overrides the SAE's k [default: the SAE's k].
        tokens: tokens pooled per sample: all | no-bos | prompt | response.
        pooling: per-sample pooling: mean | sum (sum only for ablations).
        max_tokens: truncate samples to this many tokens (truncations are counted).
        batch_tokens: tokens of samples handled together; results do not depend on it.
        threads: CPU threads (0 = all cores).
        template: chat rendering: model (the GGUF's Jinja template, as HF apply_chat_template), plain, or a
            llama.cpp built-in name (chatml, llama3, ...).
        cpu_repack: let llama.cpp repack Q4_0/Q4_K/Q8_0/IQ4_NL weights for its CPU kernels.
        system_prompt: system turn of chat samples: a text for each sample that has none, or "none" [default: the
            template's own, as HF].
        format: record format: auto | messages | sharegpt | alpaca | prompt-completion | text.
        skip_bad: count and skip malformed records (listed in skipped.tsv) instead of failing.
        merge: none | round-robin | quota: also make ONE merged subset of `count` samples from all targets
            (Selection.merged, <out>/merged/).
        quotas: with merge="quota": {target: weight}.
        labels: {target: pool label}: the pool's task label of a target, for precision in the report, when it is not
            the target's name (`--label NAME=LABEL`).
        diversity: MMR LAMBDA (beyond the paper, docs/beyond.md): greedy picks of score - LAMBDA x max Jaccard to
            the samples already picked, among each target's top diversity_candidates x n; 0 = the paper's top n.
        diversity_candidates: with diversity or dedup: the candidates are each target's top C x n samples.
        dedup: drop exact (normalised text) and near duplicates (pooled-vector Jaccard >= dedup to a better-ranked
            kept sample) from each selection and the merged subset; 0 = off (dropped.tsv lists them).
        dedup_against: with dedup: also drop samples that duplicate one of this file's samples.
        coverage: report each selection's coverage of its prototype and its redundancy in the manifest.
        prototype: "mean" (the paper's) or "contrast:BETA": score against max(0, mean - BETA x the pool's mean
            vector) (beyond the paper, docs/beyond.md).
        length_strata: B >= 1: each score becomes its standard score within its length stratum (the pool cut into
            B strata by token count); 0 = off.
        store: where the pool's feature store is kept (resumed if it exists) [default: <out>/.store, removed after
            success].
        shard_rows: samples per store shard file (0 = the store's default).
        progress: True = a tqdm bar when tqdm is installed (else silent); False = silent; or a callable that gets
            each progress report as a dict (stage, n_samples, n_tokens, seconds, final, line).

    Returns:
        Selection: per target the selected row indices (numpy int64, rank order), every score, the manifest.

    Raises:
        InvalidInputError (a ValueError) naming file, line and field of a bad record (.file, .line, .row, .field);
        NotFoundError, UnsupportedError, MonaIOError; KeyboardInterrupt on Ctrl-C (the job stops at the next
        record and leaves `out` as a failed run does).
    """
    if ratio is not None and count is not None:
        raise ValueError("give ratio or count, not both")
    with Staged() as staged:
        pool_path = staged.path_of(pool, "pool")
        options = _common(
            model=model, sae=sae, layer=layer, k=k, tokens=tokens, pooling=pooling, format=format, template=template,
            system_prompt=system_prompt, cpu_repack=cpu_repack, max_tokens=max_tokens, batch_tokens=batch_tokens,
            threads=threads, skip_bad=skip_bad,
        )
        options.update(
            _selection_options(
                staged, targets, ratio, count, merge, quotas, labels, diversity, diversity_candidates, dedup,
                dedup_against, coverage, prototype, length_strata,
            ),
            pool=pool_path,
            store=os.fspath(store) if store is not None else "",
            store_shard_rows=int(shard_rows),
        )
        return _run_selection(
            _mona.run_select, "mona-select-", out, staged, progress, staged.n_rows.get(pool_path), options
        )


def embed(
    pool: Records,
    store: PathLike,
    *,
    model: Optional[PathLike] = None,
    sae: Optional[PathLike] = None,
    layer: Optional[int] = None,
    k: Optional[int] = None,
    tokens: str = "no-bos",
    pooling: str = "mean",
    max_tokens: int = 2048,
    batch_tokens: int = 512,
    threads: int = 0,
    template: str = "model",
    cpu_repack: bool = False,
    system_prompt: Optional[str] = None,
    format: str = "auto",
    skip_bad: bool = False,
    keep: int = 0,
    values: str = "q12",
    shard_rows: int = 0,
    progress: ProgressArg = True,
) -> dict:
    """Embed a pool into a feature store (pooled SAE vectors), resumable: `mona embed`.

    Args:
        pool: the pool (a path or any of mona.select's kinds). A Python object is converted to a temporary JSONL
            file, so resuming a store across calls needs the same rows in the same order.
        store: the store folder (created, or resumed when it holds an earlier run with the same parameters).
        keep: latents kept per sample (largest first); 0 = all.
        values: how the store writes values: "f32" (exact), "bf16", "q8" (one byte per value) or "q12" (12 bits;
            docs/store.md).
        shard_rows: samples per shard file (0 = the store's default).
        model, sae, layer, k, tokens, pooling, max_tokens, batch_tokens, threads, template, cpu_repack,
        system_prompt, format, skip_bad, progress: as in mona.select.

    Returns:
        dict: n_embedded, n_resumed, n_skipped, n_truncated, store_size, bytes_on_disk.
    """
    with Staged() as staged:
        pool_path = staged.path_of(pool, "pool")
        options = _common(
            model=model, sae=sae, layer=layer, k=k, tokens=tokens, pooling=pooling, format=format, template=template,
            system_prompt=system_prompt, cpu_repack=cpu_repack, max_tokens=max_tokens, batch_tokens=batch_tokens,
            threads=threads, skip_bad=skip_bad,
        )
        options.update(pool=pool_path, out=os.fspath(store), keep=int(keep), values=str(values),
                       shard_rows=int(shard_rows))
        return _run(_mona.run_embed, staged, progress, staged.n_rows.get(pool_path), options)


def score(
    store: Union[PathLike, Sequence[PathLike]],
    targets: Targets,
    ratio: Optional[float] = None,
    count: Optional[int] = None,
    out: Optional[PathLike] = None,
    *,
    pool: Optional[PathLike] = None,
    model: Optional[PathLike] = None,
    sae: Optional[PathLike] = None,
    threads: int = 0,
    skip_bad: bool = False,
    merge: str = "none",
    quotas: Optional[Mapping[str, float]] = None,
    labels: Optional[Mapping[str, str]] = None,
    diversity: float = 0.0,
    diversity_candidates: int = 4,
    dedup: float = 0.0,
    dedup_against: Optional[PathLike] = None,
    coverage: bool = False,
    prototype: str = "mean",
    length_strata: int = 0,
    progress: ProgressArg = True,
) -> Selection:
    """Score the targets against a feature store made by mona.embed (or `mona embed`): `mona score`.

    The model runs only over the targets; the pool's vectors come from the store (one folder, or the slices of
    one pool). Model, SAE and the embedding parameters are the store's recorded ones unless given.

    Args:
        store: the store folder, or a list of slice folders of one pool.
        targets, ratio, count, out, merge, quotas, labels, diversity, diversity_candidates, dedup, dedup_against,
        coverage, prototype, length_strata, threads, skip_bad, progress: as in mona.select.
        pool: the pool file the store was made from [default: the one the store records], for selected.jsonl.
        model, sae: override the store's recorded model and SAE paths.

    Returns:
        Selection, as mona.select.
    """
    stores = [os.fspath(store)] if isinstance(store, (str, os.PathLike)) else [os.fspath(s) for s in store]
    with Staged() as staged:
        options: Dict[str, Any] = {
            "model": os.fspath(model) if model is not None else "",
            "sae": os.fspath(sae) if sae is not None else "",
            "pool": os.fspath(pool) if pool is not None else "",
            "threads": int(threads),
            "skip_bad": bool(skip_bad),
        }
        options.update(
            _selection_options(
                staged, targets, ratio, count, merge, quotas, labels, diversity, diversity_candidates, dedup,
                dedup_against, coverage, prototype, length_strata,
            )
        )
        return _run_selection(_mona.run_score, "mona-score-", out, staged, progress, None, options, stores)


def eval(
    pool: PathLike,
    targets: Targets,
    out: PathLike,
    ratio: Optional[float] = None,
    count: Optional[int] = None,
    *,
    methods: Optional[Sequence[str]] = None,
    seed: int = 0,
    model: Optional[PathLike] = None,
    sae: Optional[PathLike] = None,
    layer: Optional[int] = None,
    k: Optional[int] = None,
    tokens: str = "no-bos",
    max_tokens: int = 2048,
    batch_tokens: int = 512,
    threads: int = 0,
    template: str = "model",
    format: str = "auto",
    skip_bad: bool = False,
    progress: ProgressArg = True,
) -> dict:
    """Compare selection methods on a labelled pool (the `task` field names each record's task): `mona eval`.

    Args:
        pool: the labelled pool (a path or any of mona.select's kinds).
        targets: {name: exemplars}; a target's name must equal the pool's task label of its samples.
        out: run folder (eval.json, eval.md, report.html, per-method scores), as `mona eval --out`.
        methods: e.g. ["mona", "bm25", "mona:k=64"]; None = every method.
        seed: for the `random` method.
        ratio, count, model, sae, layer, k, tokens, max_tokens, batch_tokens, threads, template, format, skip_bad,
        progress: as in mona.select.

    Returns:
        dict: the parsed eval.json, plus "summary" (counts, per target precision and recall per method).
    """
    with Staged() as staged:
        pool_path = staged.path_of(pool, "pool")
        options = _common(
            model=model, sae=sae, layer=layer, k=k, tokens=tokens, pooling="mean", format=format, template=template,
            system_prompt=None, cpu_repack=False, max_tokens=max_tokens, batch_tokens=batch_tokens, threads=threads,
            skip_bad=skip_bad,
        )
        options.update(
            pool=pool_path,
            out=os.fspath(out),
            targets=_target_list(targets, staged),
            ratio=0.05 if ratio is None else float(ratio),
            count=0 if count is None else int(count),
            methods=list(methods or []),
            seed=int(seed),
        )
        summary = _run(_mona.run_eval, staged, progress, staged.n_rows.get(pool_path), options)
        with open(os.path.join(os.fspath(out), "eval.json"), encoding="utf-8") as f:
            result = json.load(f)
        result["summary"] = summary
        return result


def activations(
    records: Records,
    *,
    model: Optional[PathLike] = None,
    sae: Union[PathLike, None, bool] = None,
    layer: Optional[int] = None,
    tokens: str = "no-bos",
    max_tokens: int = 2048,
    batch_tokens: int = 512,
    threads: int = 0,
    template: str = "model",
    cpu_repack: bool = False,
    system_prompt: Optional[str] = None,
    format: str = "auto",
    progress: ProgressArg = False,
) -> dict:
    """Token ids, residual vectors, SAE codes and pooled vectors of a small input: `mona activations`, as numpy.

    Every sample's rows are held in memory: for inspection and for checking mona against other implementations
    (HF transformers' hidden_states[layer]), not for pools.

    Args:
        records: the input (a path or any of mona.select's kinds).
        sae: SAE folder; None = the default SAE; False = no SAE (residual rows only).
        layer: residual stream layer, HF hidden_states[L] numbering [default: the SAE's own layer, else
            n_layer-1].
        tokens: the rows the pooled vector averages: all | no-bos | prompt | response.
        model, max_tokens, batch_tokens, threads, template, cpu_repack, system_prompt, format, progress: as in
            mona.select.

    Returns:
        dict: layer, n_embd, llama_tensor, and samples: one dict per record, in order, with id, n_prompt,
        tokens (int32 [n_tokens]), residual (float32 [n_tokens, n_embd]) and, with an SAE, code_offsets (uint64
        [n_tokens+1]), code_indices (uint32), code_values (float32): CSR per-token codes, and pooled (a
        SparseVector: the mean over the `tokens` rows).
    """
    from ._sae import SparseVector

    with_sae = sae is not False
    with Staged() as staged:
        path = staged.path_of(records, "input")
        options = _common(
            model=model, sae=sae if with_sae else None, layer=layer, k=None, tokens=tokens, pooling="mean",
            format=format, template=template, system_prompt=system_prompt, cpu_repack=cpu_repack,
            max_tokens=max_tokens, batch_tokens=batch_tokens, threads=threads, skip_bad=False,
        )
        options.update(pool=path, with_sae=with_sae)
        result = _run(_mona.run_activations, staged, progress, staged.n_rows.get(path), options)
    for s in result["samples"]:
        if "pooled" in s:
            s["pooled"] = SparseVector(*s["pooled"])
    return result
