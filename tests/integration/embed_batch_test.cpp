// select/embed.hpp's batch rule on hand-worked token counts: where decode batches end, and which samples are
// still queued (the batch a resumed `mona embed` runs again). Lives with the integration tests because the
// Embedder is part of the llama.cpp-linked library; no model is loaded.
#include <gtest/gtest.h>

#include <vector>

#include "select/embed.hpp"

namespace mona {
namespace {

size_t open_start(const BatchRule& rule, const std::vector<int64_t>& n_tokens) {
    return open_batch_start(rule, n_tokens);
}

TEST(BatchRule, BudgetMaxTokensAndMaxSeqs) {
    const BatchRule rule{/*budget=*/10, /*max_batch_tokens=*/16, /*max_seqs=*/3};
    EXPECT_EQ(0u, open_start(rule, {}));
    // 4 + 4 = 8 stays queued; the third 4 would make 12 > 10, so {4, 4} runs and the third waits.
    EXPECT_EQ(2u, open_start(rule, {4, 4, 4}));
    // Reaching the budget runs the batch at once: nothing stays queued.
    EXPECT_EQ(1u, open_start(rule, {10}));
    EXPECT_EQ(2u, open_start(rule, {4, 6}));
    // Three samples are the most per batch: the fourth starts a new one.
    EXPECT_EQ(3u, open_start(rule, {3, 3, 3, 3}));
    // A sample longer than the budget runs alone, right away.
    EXPECT_EQ(1u, open_start(rule, {20}));
    EXPECT_EQ(1u, open_start(rule, {20, 2}));
    EXPECT_EQ(2u, open_start(rule, {5, 12}));
    EXPECT_EQ(2u, open_start(rule, {2, 12, 1}));
}

TEST(BatchRule, ContextLimitsABatchBelowTheBudget) {
    const BatchRule rule{/*budget=*/100, /*max_batch_tokens=*/16, /*max_seqs=*/64};
    EXPECT_EQ(1u, open_start(rule, {8, 9}));  // 17 tokens do not fit the context
    EXPECT_EQ(0u, open_start(rule, {8, 8}));  // 16 do
    EXPECT_TRUE(rule.run_before(1, 8, 9));
    EXPECT_FALSE(rule.run_before(0, 0, 500));  // an empty queue never runs
}

}  // namespace
}  // namespace mona
