"""mona: task-specific data selection with sparse-autoencoder features (MoNA), from Python.

    import mona
    sel = mona.select("pool.parquet", targets={"gsm8k": "gsm8k_exemplars.jsonl"}, ratio=0.05)
    sel["gsm8k"].indices          # selected pool rows, numpy int64, rank order
    sel["gsm8k"].to_pandas()      # every sample's score and rank

The jobs (select, embed, score, eval) are the `mona` command's, run in this process by the same C++ library
(GIL released, Ctrl-C stops them); Sae.encode, pool and jaccard give mona's encoder and scoring to activations
computed elsewhere. Errors are MonaError subclasses naming file, line and field.
"""

from . import _mona
from ._errors import (
    CancelledError,
    InternalError,
    InvalidInputError,
    MonaError,
    MonaIOError,
    NotFoundError,
    UnsupportedError,
)
from ._jobs import Selection, TargetSelection, activations, embed, eval, score, select
from ._sae import Model, Sae, SparseVector, jaccard, pool

__version__ = _mona.version()

__all__ = [
    "Model",
    "Sae",
    "SparseVector",
    "Selection",
    "TargetSelection",
    "select",
    "embed",
    "score",
    "eval",
    "activations",
    "pool",
    "jaccard",
    "MonaError",
    "InvalidInputError",
    "NotFoundError",
    "MonaIOError",
    "UnsupportedError",
    "InternalError",
    "CancelledError",
]
