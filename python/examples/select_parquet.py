# %% [markdown]
# # Select task data from a parquet pool with mona
#
# A notebook-style script (cells marked `# %%`, runs as a plain script too). It turns a JSONL pool into parquet,
# the way Hugging Face datasets store data on disk, selects the 5% of it most like each target task, and looks at
# the result with pandas.
#
#     python python/examples/select_parquet.py POOL.jsonl NAME=TARGET.jsonl [NAME=TARGET.jsonl ...]
#            [--model M.gguf --sae DIR] [--out runs/py]
#
# Without --model/--sae it uses mona's default model and SAE (scripts/setup.sh). A Hugging Face dataset works the
# same way: `mona.select(datasets.load_dataset("parquet", data_files=...)["train"], targets=...)`, or pass the
# parquet file's path directly, as below.

# %%
import argparse
import json
import os
import tempfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import mona

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("pool")
parser.add_argument("targets", nargs="+", help="NAME=FILE")
parser.add_argument("--model")
parser.add_argument("--sae")
parser.add_argument("--out")
parser.add_argument("--ratio", type=float, default=0.05)
parser.add_argument("--threads", type=int, default=0)
args = parser.parse_args()

# %% Make a parquet pool (row groups of 1000, as datasets writes them). Only one record batch at a time is held.
work = tempfile.mkdtemp(prefix="mona-example-")
parquet_path = os.path.join(work, "pool.parquet")
with open(args.pool, encoding="utf-8") as f:
    records = [json.loads(line) for line in f if line.strip()]
pq.write_table(pa.Table.from_pylist(records), parquet_path, row_group_size=1000)
print(f"pool: {len(records)} records -> {parquet_path}")

# %% Select. The parquet file is streamed to the C++ reader batch by batch; progress shows with tqdm if installed.
targets = dict(t.split("=", 1) for t in args.targets)
selection = mona.select(
    parquet_path,
    targets=targets,
    ratio=args.ratio,
    out=args.out,
    model=args.model,
    sae=args.sae,
    threads=args.threads,
)
print(selection)

# %% The selected rows of the parquet table, in rank order, with their scores.
pool = pd.read_parquet(parquet_path)
for name, result in selection.targets.items():
    chosen = pool.iloc[result.indices].copy()
    chosen.insert(0, "score", result.scores[result.indices])
    chosen.insert(0, "rank", range(1, len(chosen) + 1))
    print(f"\n{name}: {len(chosen)} of {len(pool)} selected")
    print(chosen.head(5)[["rank", "score"] + [c for c in ("id", "task") if c in chosen]].to_string(index=False))

# %% Every sample's score and rank, one DataFrame for all targets.
ranking = selection.to_pandas()
print(ranking.groupby("target")["score"].describe())
