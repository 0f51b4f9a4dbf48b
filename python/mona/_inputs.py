"""Pools and exemplars from Python objects: each becomes a JSONL file the C++ reader streams.

Accepted: a path (JSONL, one JSON array, either gzipped: handed to the C++ reader as is; ``.parquet``: streamed
through pyarrow), a pandas DataFrame, a pyarrow Table / RecordBatch / RecordBatchReader, a Hugging Face
``datasets.Dataset`` or ``IterableDataset``, or any iterable of dicts. Records keep the formats the CLI knows
(messages, ShareGPT, Alpaca, prompt/completion, text).

Streaming: objects are written to a temporary JSONL file batch by batch (``BATCH_ROWS`` rows of Python dicts at a
time, then dropped), so a 1M-row parquet file or Dataset is never held as Python objects; the temporary file is
removed when the call ends. A line of that file is a row of the object, so an error's ``line`` N is row N-1
(``MonaError.row``).

Columnar inputs (parquet, Arrow, DataFrame, Dataset) cannot say "field absent": a null (None, NaN) in a row's
top-level column is dropped from that row's record, as if the key were missing from a JSONL line.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any, Iterable, Iterator, List, Optional, Tuple

BATCH_ROWS = 4096


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays (pandas' list columns come back as numpy arrays of dicts).
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8")
    raise TypeError(f"a value of type {type(value).__name__} is not JSON serialisable")


def _drop_nulls(record: dict) -> dict:
    return {k: v for k, v in record.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}


def _is_path(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def _batches(obj: Any) -> Tuple[str, Iterator[List[dict]]]:
    """(description, iterator over lists of records) for any accepted non-JSONL input."""
    if _is_path(obj):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(os.fspath(obj))
        return os.fspath(obj), (list(map(_drop_nulls, b.to_pylist())) for b in parquet.iter_batches(batch_size=BATCH_ROWS))
    module = _module_of(obj)
    if module == "pandas" and hasattr(obj, "iloc"):

        def frames():
            for start in range(0, len(obj), BATCH_ROWS):
                yield [_drop_nulls(r) for r in obj.iloc[start : start + BATCH_ROWS].to_dict(orient="records")]

        return "<DataFrame>", frames()
    if module == "pyarrow":
        if hasattr(obj, "to_batches"):  # Table
            source = obj.to_batches(max_chunksize=BATCH_ROWS)
        elif hasattr(obj, "read_next_batch"):  # RecordBatchReader
            source = obj
        else:  # RecordBatch
            source = [obj]
        return f"<pyarrow.{type(obj).__name__}>", (list(map(_drop_nulls, b.to_pylist())) for b in source)
    if module == "datasets":
        name = type(obj).__name__
        if hasattr(obj, "with_format") and hasattr(obj, "__len__"):  # Dataset: Arrow tables, indices applied
            tables = obj.with_format("arrow").iter(batch_size=BATCH_ROWS)
            return f"<datasets.{name}>", (list(map(_drop_nulls, t.to_pylist())) for t in tables)
        return f"<datasets.{name}>", _chunked(obj, drop_nulls=True)  # IterableDataset: dicts
    if isinstance(obj, dict):
        raise TypeError("a pool or exemplar set is a path or an iterable of records, not one dict")
    if isinstance(obj, Iterable):
        return f"<{type(obj).__name__}>", _chunked(obj, drop_nulls=False)
    raise TypeError(
        f"cannot read records from a {type(obj).__name__}: pass a path, a pandas DataFrame, a pyarrow Table, "
        "a datasets.Dataset or an iterable of dicts"
    )


def _chunked(rows: Iterable[Any], drop_nulls: bool) -> Iterator[List[dict]]:
    chunk: List[dict] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError(f"row {i}: expected a dict (one record), found {type(row).__name__}")
        chunk.append(_drop_nulls(row) if drop_nulls else row)
        if len(chunk) == BATCH_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def needs_conversion(obj: Any) -> bool:
    """True unless obj is a path the C++ reader takes as it is (anything but parquet)."""
    if not _is_path(obj):
        return True
    return os.fspath(obj).lower().endswith((".parquet", ".parq"))


class Staged:
    """Inputs turned into paths for one call; removes its temporary files on close()."""

    def __init__(self) -> None:
        self._dir: Optional[str] = None
        self.descriptions: dict = {}  # temporary path -> what the user passed
        self.n_rows: dict = {}  # temporary path -> rows written

    def path_of(self, obj: Any, name: str) -> str:
        if not needs_conversion(obj):
            return os.fspath(obj)
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="mona-py-")
        path = os.path.join(self._dir, f"{name}.jsonl")
        description, batches = _batches(obj)
        n = 0
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for batch in batches:
                lines = [json.dumps(r, ensure_ascii=False, default=_json_default, allow_nan=False) for r in batch]
                if lines:
                    f.write("\n".join(lines) + "\n")
                n += len(lines)
        self.descriptions[path] = description
        self.n_rows[path] = n
        return path

    def relocate(self, error: Exception) -> Exception:
        from ._errors import MonaError, relocate

        if not isinstance(error, MonaError):
            return error
        for path, description in self.descriptions.items():
            if path in error.message:
                return relocate(error, path, description)
        return error

    def close(self) -> None:
        if self._dir is not None:
            import shutil

            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> "Staged":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
