// demo/demo_corpus.hpp: a built-in, deterministic multi-task corpus for `mona demo`, tests and SAE training.
//
// The corpus is written by this project: every sample is composed from our own templates and word lists (no
// dataset text), so the demo runs offline and its output can be checked. There are eight task families (see
// demo_families()):
//   math_word_problems        arithmetic stories with worked, correct solutions ("a × b = c" steps)
//   code_generation           small Python functions, code in a ```python fence
//   translation               English → French / Spanish / German, from a hand-written phrase table
//   sentiment_classification  product and film reviews → positive / negative with a reason
//   summarization             a short news-style paragraph → a one-sentence summary
//   trivia_qa                 geography and science questions with facts that are true
//   email_writing             short work emails (reschedule, thank, request time off, ...)
//   creative_writing          short free-verse poems about a topic
//
// Three generators share the templates but draw from independent seed streams:
//   demo_pool(seed, per_family)        the pool to select from; per_family samples of every family, shuffled
//   demo_targets(task, seed, n)        n exemplars of one family, written with *different* instruction
//                                      templates and phrasings than the pool, so no target user turn equals a
//                                      pool user turn (for any pair of seeds)
//   demo_training_texts(seed, n)       n "user\n\nassistant" texts from all families, for training a toy SAE
// Each sample has 30..200 whitespace-separated words (user + assistant), varied within a family.
//
// Determinism: output depends only on the arguments. Randomness is std::mt19937_64 (fully specified by the
// standard) and our own rejection-sampled integer draws, never std::*_distribution (whose output differs
// between standard libraries), so the bytes are identical across runs, compilers and platforms. Changing the
// templates changes the output; the fingerprint test in tests/unit/demo_corpus_test.cpp says so.
//
// Usage:
//   std::vector<DemoSample> pool = demo_pool(/*seed=*/1, /*per_family=*/500);       // 4000 samples
//   std::vector<DemoSample> ex = demo_targets("math_word_problems", /*seed=*/1, 8);
//   write the file: to_jsonl(pool)
//
// Thread-safety: all functions are pure and may be called from many threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mona {

struct DemoSample {
    std::string id;         // pool: "pool-00042" (position in the shuffled pool); targets: "target-<task>-003"
    std::string task;       // family name, one of demo_families()
    std::string user;       // the user turn (instruction)
    std::string assistant;  // the assistant turn (response)
};

// The family names, in a fixed order (the order used for seed streams; the pool itself is shuffled).
std::vector<std::string> demo_families();

// per_family samples of every family, shuffled together; ids are "pool-NNNNN" in the returned order.
// per_family <= 0 gives an empty pool. Size: per_family * demo_families().size().
std::vector<DemoSample> demo_pool(uint64_t seed, int per_family);

// n exemplars of family `task`, ids "target-<task>-NNN". An unknown task or n <= 0 gives an empty vector
// (callers that take the name from a flag should check it against demo_families() to report the error).
std::vector<DemoSample> demo_targets(const std::string& task, uint64_t seed, int n);

// n instruction-style texts (user turn, blank line, assistant turn) drawn from all families with a seed stream
// separate from the pool and the targets. n <= 0 gives an empty vector.
std::vector<std::string> demo_training_texts(uint64_t seed, int n);

// One JSON object per line, each ending in '\n', keys in this order:
//   {"id":..,"task":..,"messages":[{"role":"user","content":..},{"role":"assistant","content":..}]}
// The result is readable by text/formats.hpp ("messages" format, "task" kept as the label). UTF-8 is written
// as is (not \u-escaped).
std::string to_jsonl(const std::vector<DemoSample>& samples);

}  // namespace mona
