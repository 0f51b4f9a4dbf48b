"""Progress reports of the jobs: a callable, tqdm when installed, or nothing."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

ProgressArg = Union[bool, None, Callable[[dict], Any]]


class _Tqdm:
    """Drives one tqdm bar per stage from the job's reports (samples done, tokens/s in the postfix)."""

    def __init__(self, tqdm, total: Optional[int]):
        self._tqdm = tqdm
        self._total = total
        self._bars: dict = {}

    def __call__(self, update: dict) -> None:
        stage = update["stage"]
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._tqdm(desc=f"mona {stage}", total=self._total if stage in ("embed", "pool") else None, unit="sample")
            self._bars[stage] = bar
        bar.update(update["n_samples"] - bar.n)
        if update["seconds"] > 0:
            bar.set_postfix(tokens_per_s=int(update["n_tokens"] / update["seconds"]))
        if update["final"]:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def make_progress(progress: ProgressArg, total: Optional[int] = None):
    """Returns (callback or None, closer). progress: True = tqdm if installed else silent; False/None = silent;
    a callable gets each report as a dict (stage, n_samples, n_tokens, seconds, final, line)."""
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return None, lambda: None
    try:
        from tqdm.auto import tqdm  # type: ignore
    except ImportError:
        return None, lambda: None
    bars = _Tqdm(tqdm, total)
    return bars, bars.close
