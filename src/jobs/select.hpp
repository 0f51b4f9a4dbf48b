// jobs/select.hpp: the `mona select` job.
//
// `mona select` is `mona embed` + `mona score` in one process with one model load: one pass of the selection model
// over the target exemplar files, then one over the pool into a feature store (<out>/.store, or
// SelectConfig::store_dir; resumable, so rerunning an interrupted command continues the pool pass instead of
// starting it again), then one streaming pass over the store shared by every target, scoring each sample against
// each target prototype (generalized Jaccard, method.md §3), so memory holds scores, not vectors. The store's
// decode batches are those of one uninterrupted pass even after a resume (run_embed), so the outputs do not
// depend on interruptions. At the end, per target, the top n (ties: lower input position first) are written:
//   <out>/<target>/selected.jsonl   the selected pool records, byte-for-byte as in the input, in rank order
//   <out>/<target>/scores.tsv       every pool sample: record, id, line, task, n_tokens, score, rank, selected
//   <out>/report.html               a self-contained report (score histograms, composition, lengths)
//   <out>/skipped.tsv               with skip_bad: one row per skipped record
//   <out>/manifest.json             parameters, versions, file hashes, counts, timings
// With config.merge set, also one merged subset of the same size n (score/merge_select.hpp):
//   <out>/merged/selected.jsonl     the merged subset's records, in the order the turns took them
//   <out>/merged/selected.tsv       pick, record, id, line, target and rank that brought it in, that target's score
// Beyond the paper (docs/beyond.md): with config.diversity > 0 (MMR) or config.dedup > 0 each target's n are chosen
// among its top c*n candidates instead (selected.jsonl in pick order; scores.tsv's rank stays the score rank, its
// selected column marks the picks); with dedup, <out>/dropped.tsv lists every candidate left out and why.
// Every file is written to a temporary name and renamed into place only after the whole run succeeded; then
// <out>/.store is removed (a store_dir given by the caller is kept).
#pragma once

#include "jobs/config.hpp"
#include "mona/status.hpp"

namespace mona {

// `mona select` (see the top of this file): embed_targets, the pool into its store (run_embed's resumable pass, in
// this process), then run_score's scoring and outputs. Its own store (<out>/.store) is removed when the run ends,
// in success or error; one left by an interrupted run is resumed if it was made with the same parameters, else
// replaced. config.store_dir names a store to keep (and resume) instead.
// The run holds <out>/.mona-run.lock throughout (run_support.hpp RunFolderLock): a second run into the same
// --out fails at once (kInvalidInput naming the first run's pid), and a failed run leaves no --out folder it
// created. A pool that changes during the run (size, modification time or inode) fails it before anything is
// committed (kInvalidInput "pool ... changed during the run"); so does it in run_embed (before the store is marked
// complete) and run_score.
Result<SelectSummary> run_select(const SelectConfig& config);

}  // namespace mona
