// embed/embedder.hpp's batch rule on hand-worked token counts: where decode batches end, and which samples are
// still queued (the batch a resumed `mona embed` runs again); and the Embedder over a stand-in backend (the
// seam a device backend implements): batches, order and results. Lives with the integration tests because the
// Embedder is part of the llama.cpp-linked library; no model is loaded.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "embed/embedder.hpp"

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

// A backend that computes nothing from a model: each sample's pooled vector is one latent, its tag, with the
// value n_tokens; it records the token counts of every batch it was given.
class StandInBackend final : public EmbedBackend {
   public:
    StandInBackend(BatchRule rule, std::vector<std::vector<int64_t>>* batches) : rule_(rule), batches_(batches) {}
    BatchRule rule() const override { return rule_; }
    Status run(std::span<EmbeddedSample> batch) override {
        batches_->emplace_back();
        for (EmbeddedSample& item : batch) {
            const auto n = static_cast<int64_t>(item.tokens.tokens.size());
            batches_->back().push_back(n);
            item.pooled.idx = {static_cast<uint32_t>(item.tag)};
            item.pooled.val = {static_cast<float>(n)};
            item.n_pooled = n;
        }
        return Status();
    }

   private:
    BatchRule rule_;
    std::vector<std::vector<int64_t>>* batches_;
};

// The batches a rule makes of these token counts, worked out by hand from run_before/run_after alone.
std::vector<std::vector<int64_t>> reference_batches(const BatchRule& rule, const std::vector<int64_t>& n_tokens) {
    std::vector<std::vector<int64_t>> batches;
    std::vector<int64_t> open;
    int64_t queued = 0;
    for (int64_t n : n_tokens) {
        if (!open.empty() && (queued + n > std::max(rule.budget, n) || queued + n > rule.max_batch_tokens ||
                              static_cast<int32_t>(open.size()) >= rule.max_seqs)) {
            batches.push_back(open);
            open.clear();
            queued = 0;
        }
        open.push_back(n);
        queued += n;
        if (rule.run_when_full && queued >= rule.budget) {
            batches.push_back(open);
            open.clear();
            queued = 0;
        }
    }
    if (!open.empty()) batches.push_back(open);
    return batches;
}

// The batches an Embedder over the stand-in backend runs for these token counts (added in order, then flushed).
std::vector<std::vector<int64_t>> embedder_batches(const BatchRule& rule, const std::vector<int64_t>& n_tokens) {
    std::vector<std::vector<int64_t>> batches;
    Embedder embedder(std::make_unique<StandInBackend>(rule, &batches), [](EmbeddedSample&) { return Status(); });
    for (size_t sample_idx = 0; sample_idx < n_tokens.size(); ++sample_idx) {
        TokenizedSample tokens;
        tokens.tokens.assign(static_cast<size_t>(n_tokens[sample_idx]), 1);
        EXPECT_TRUE(embedder.add(sample_idx, std::move(tokens)).ok());
    }
    EXPECT_TRUE(embedder.flush().ok());
    return batches;
}

TEST(BatchRule, DeferredFullBatchWaitsForTheNextSample) {
    const BatchRule rule{/*budget=*/10, /*max_batch_tokens=*/16, /*max_seqs=*/3, /*run_when_full=*/false};
    EXPECT_EQ(0u, open_start(rule, {10}));  // at the budget, but still queued
    EXPECT_EQ(0u, open_start(rule, {4, 6}));
    EXPECT_EQ(2u, open_start(rule, {4, 6, 1}));  // the next sample runs it
    EXPECT_EQ(0u, open_start(rule, {20}));       // a long sample waits too
    EXPECT_EQ(1u, open_start(rule, {20, 2}));
}

TEST(Embedder, StandInBackendGetsTheRulesBatchesAndTheSinkSeesSubmissionOrder) {
    std::mt19937 rng(7);
    for (const bool run_when_full : {true, false}) {
        for (int trial = 0; trial < 50; ++trial) {
            const BatchRule rule{/*budget=*/1 + static_cast<int64_t>(rng() % 40),
                                 /*max_batch_tokens=*/1 + static_cast<int64_t>(rng() % 60),
                                 /*max_seqs=*/1 + static_cast<int32_t>(rng() % 5), run_when_full};
            std::vector<int64_t> n_tokens(rng() % 30);
            for (auto& n : n_tokens) n = 1 + static_cast<int64_t>(rng() % 25);
            std::vector<std::vector<int64_t>> batches;
            std::vector<uint64_t> tags;
            Embedder embedder(std::make_unique<StandInBackend>(rule, &batches), [&](EmbeddedSample& item) -> Status {
                EXPECT_EQ((std::vector<uint32_t>{static_cast<uint32_t>(item.tag)}), item.pooled.idx);
                EXPECT_EQ(static_cast<float>(n_tokens[item.tag]), item.pooled.val.at(0));
                tags.push_back(item.tag);
                return Status();
            });
            int64_t total = 0;
            for (size_t sample_idx = 0; sample_idx < n_tokens.size(); ++sample_idx) {
                TokenizedSample tokens;
                tokens.tokens.assign(static_cast<size_t>(n_tokens[sample_idx]), 1);
                ASSERT_TRUE(embedder.add(sample_idx, std::move(tokens)).ok());
                total += n_tokens[sample_idx];
            }
            const size_t open = open_batch_start(rule, n_tokens);
            // Every sample before the open batch has reached the sink; none after.
            EXPECT_EQ(open, tags.size()) << "trial " << trial;
            ASSERT_TRUE(embedder.flush().ok());
            EXPECT_EQ(reference_batches(rule, n_tokens), batches) << "trial " << trial;
            ASSERT_EQ(n_tokens.size(), tags.size());
            for (size_t place = 0; place < tags.size(); ++place) EXPECT_EQ(place, tags[place]);
            EXPECT_EQ(static_cast<uint64_t>(total), embedder.n_tokens_run());
        }
    }
}

TEST(Embedder, DeferredAndEagerRulesMakeTheSameBatches) {
    std::mt19937 rng(11);
    for (int trial = 0; trial < 200; ++trial) {
        BatchRule eager{1 + static_cast<int64_t>(rng() % 40), 1 + static_cast<int64_t>(rng() % 60),
                        1 + static_cast<int32_t>(rng() % 5), true};
        eager.max_batch_tokens = std::max(eager.max_batch_tokens, eager.budget);  // as Session::max_batch_tokens()
        BatchRule deferred = eager;
        deferred.run_when_full = false;
        std::vector<int64_t> n_tokens(rng() % 30);
        for (auto& n : n_tokens) n = 1 + static_cast<int64_t>(rng() % 25);
        const auto batches = embedder_batches(eager, n_tokens);
        EXPECT_EQ(batches, embedder_batches(deferred, n_tokens)) << "trial " << trial;
        EXPECT_EQ(reference_batches(eager, n_tokens), batches) << "trial " << trial;
    }
}

}  // namespace
}  // namespace mona
