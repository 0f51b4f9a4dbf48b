"""mona.Model, mona.Sae and the vector helpers mona.pool / mona.jaccard (for activations computed elsewhere)."""

from __future__ import annotations

import os
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _mona

PathLike = Union[str, "os.PathLike[str]"]


class Model:
    """A GGUF selection model. `Model(path=None)`: None = the default model ($MONA_HOME, set up by
    scripts/setup.sh). `.info` is what `mona info --model` reports (architecture, n_layer, n_embd, n_vocab, ...);
    the model is read once for it (weights mmapped, not loaded) and `.path` is what the jobs take as `model=`."""

    def __init__(self, path: Optional[PathLike] = None):
        self.path = os.fspath(path) if path is not None else _mona.default_model_file()
        self._info: Optional[dict] = None

    @property
    def info(self) -> dict:
        if self._info is None:
            self._info = _mona.model_info(self.path)
        return self._info

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"mona.Model({self.path!r})"


class Sae:
    """A sparse autoencoder (sparsify, or SAELens standard/topk/jumprelu), loaded once.

    `Sae(path=None)`: the SAE folder (or its cfg.json, or a parent with one layers.N folder); None = the default
    SAE. `.info`: format, architecture, d_in, d_sae, k, dtype, hook, layer (HF hidden_states numbering), ...
    """

    def __init__(self, path: Optional[PathLike] = None):
        self.path = os.fspath(path) if path is not None else _mona.default_sae_folder()
        self._sae = _mona.Sae.open(self.path)
        self.info: dict = self._sae.info()

    def encode_csr(self, x: np.ndarray, k: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encodes rows x [n, d_in] (float32 or float16); returns CSR codes (offsets [n+1] uint64, indices uint32,
        values float32): row r owns indices[offsets[r]:offsets[r+1]], ascending, values > 0. k > 0 overrides
        the TopK k. The GIL is released while it computes."""
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"x: expected a 2-D array [n, d_in], found {x.ndim}-D")
        if x.dtype not in (np.float32, np.float16):
            raise TypeError(f"x: expected float32 or float16, found {x.dtype}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self._sae.encode(x, int(k))

    def encode(self, x: np.ndarray, k: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Encodes rows x [n, d_in] (float32 or float16) with the SAE, exactly as the jobs do.

        Returns (indices, values): int64 and float32 arrays [n, w], w the most codes of any row (k for a TopK
        SAE); each row's latents ascend, padded at the end with index -1 and value 0. k > 0 overrides the TopK k.
        """
        offsets, idx, val = self.encode_csr(x, k)
        n = len(offsets) - 1
        counts = np.diff(offsets.astype(np.int64))
        width = int(counts.max()) if n else 0
        indices = np.full((n, width), -1, dtype=np.int64)
        values = np.zeros((n, width), dtype=np.float32)
        rows = np.repeat(np.arange(n), counts)
        cols = np.arange(len(idx)) - np.repeat(offsets[:-1].astype(np.int64), counts)
        indices[rows, cols] = idx
        values[rows, cols] = val
        return indices, values

    def __repr__(self) -> str:
        return f"mona.Sae({self.path!r}, d_in={self.info['d_in']}, d_sae={self.info['d_sae']}, k={self.info['k']})"


class SparseVector(NamedTuple):
    """A pooled sample vector: latent indices (uint32, ascending), values (float32) and the L1 norm of the full
    vector (kept apart so that a truncated vector still scores with its exact norm)."""

    indices: np.ndarray
    values: np.ndarray
    l1: float


def pool(indices: np.ndarray, values: np.ndarray, d_sae: int, pooling: str = "mean") -> SparseVector:
    """Pools the per-token codes of ONE sample into its vector, as the jobs do (spec: mean over tokens).

    Args:
        indices, values: a sample's codes as Sae.encode returns them ([n_tokens, w], index -1 = padding).
        d_sae: the SAE's width (Sae.info["d_sae"]).
        pooling: "mean" (MoNA) or "sum".
    """
    indices = np.asarray(indices)
    values = np.asarray(values, dtype=np.float32)
    if indices.shape != values.shape or indices.ndim != 2:
        raise ValueError(f"indices and values: expected two arrays [n_tokens, w] of one shape, found {indices.shape} and {values.shape}")
    keep = indices >= 0
    counts = keep.sum(axis=1).astype(np.uint64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    idx, val, l1 = _mona.pool(offsets, indices[keep].astype(np.uint32), values[keep], 0, len(counts), int(d_sae), pooling)
    return SparseVector(idx, val, l1)


def _as_sparse(v) -> SparseVector:
    if isinstance(v, SparseVector):
        return v
    if isinstance(v, tuple) and len(v) in (2, 3):
        idx = np.asarray(v[0], dtype=np.uint32)
        val = np.asarray(v[1], dtype=np.float32)
        l1 = float(v[2]) if len(v) == 3 else float(sum(val.astype(np.float64).tolist()))
        return SparseVector(idx, val, l1)
    dense = np.asarray(v, dtype=np.float32)
    if dense.ndim != 1:
        raise ValueError("jaccard: a vector is a SparseVector, an (indices, values[, l1]) tuple or a 1-D dense array")
    nz = np.flatnonzero(dense)
    val = dense[nz]
    return SparseVector(nz.astype(np.uint32), val, float(sum(val.astype(np.float64).tolist())))


def jaccard(a, b) -> float:
    """Generalized Jaccard similarity Σ min(a_k, b_k) / Σ max(a_k, b_k) of two non-negative vectors (0 for two
    zero vectors), summed in double exactly as mona scores. Each of a, b: a SparseVector (mona.pool), an
    (indices, values[, l1]) tuple (l1 = the sum of values when absent) or a dense 1-D array."""
    a, b = _as_sparse(a), _as_sparse(b)
    return _mona.jaccard(a.indices, a.values, a.l1, b.indices, b.values, b.l1)
