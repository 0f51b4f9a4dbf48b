// score/merge_select.hpp: one merged subset from several targets' rankings (`mona select|score --merge`).
//
// Each target ranks the pool (score/topn.hpp order, best first). A merged subset of n distinct samples takes
// from every target in turn:
//   Phase 1. Turns go round the targets in target order (0, 1, ..., T-1, 0, 1, ...). On its turn a target with
//            quota left takes the best-ranked sample of its ranking that no target has taken yet; a sample two
//            targets rank highly counts once, and the next target just skips it (its next unused sample fills
//            the slot). A target whose ranking has no unused sample left drops out. The phase ends when every
//            target has met its quota or dropped out.
//   Phase 2. Only when fewer than n samples were taken (some ranking ran out before its target's quota was met):
//            the same turns, from target 0 again, among the targets with a positive quota that have not dropped
//            out, without quotas, until n are taken or every target has dropped out.
// Quotas: round-robin gives every target an equal share (n / T, the first n mod T targets one more), i.e.
// apportion(n, {1, ..., 1}); quota mode splits n in proportion to user weights with apportion(). When the weights
// add up to n they are exact counts. A target with quota 0 never takes a sample.
//
// The result is deterministic (target order, ranking order); it holds min(n, |union of the rankings|) samples.
// With full rankings of one pool, no target runs out before n samples are taken (n <= pool size), and each
// target's k-th pick has rank <= n, so rankings truncated to their top n give the same result.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mona/status.hpp"

namespace mona {

enum class MergeMode { kNone, kRoundRobin, kQuota };

// "round-robin" | "quota" (kNone has no name: it is the absence of --merge).
Result<MergeMode> parse_merge_mode(const std::string& text);
const char* merge_mode_name(MergeMode mode);

// One sample of a merged subset and the turn that brought it in.
struct MergedPick {
    uint64_t pos = 0;       // the sample: a position in the numbering the rankings share
    size_t target_idx = 0;  // the target whose turn took it
    uint64_t rank = 0;      // 1-based place of `pos` in that target's ranking
    bool fill = false;      // taken in phase 2 (beyond the target's quota)
};

// Splits n into T = weights.size() integer quotas in proportion to the weights by the largest-remainder method:
// quota_t = floor(n * w_t / W) plus one for the n - Σ floor targets with the largest remainders (ties: lower
// target index first). Σ quotas = n. Errors (kInvalidInput): no weights, a negative or non-finite weight, or
// all weights zero.
Result<std::vector<uint64_t>> apportion(uint64_t n, std::span<const double> weights);

// The merged subset (see the top of this file), in the order taken. rankings[t] is target t's ranking, best
// first; quotas[t] its quota (quotas.size() == rankings.size(), asserted). A position repeated within one
// ranking is taken at most once.
std::vector<MergedPick> merge_rankings(std::span<const std::vector<uint64_t>> rankings,
                                       std::span<const uint64_t> quotas, uint64_t n);

}  // namespace mona
