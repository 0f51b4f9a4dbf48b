// Near-duplicate control (score/dedup.hpp), alone and inside the MMR picker, against a naive reference that
// recomputes everything from dense vectors at every step.
#include "score/dedup.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <vector>

#include "reference/score_reference.hpp"
#include "score/diversity.hpp"

namespace mona {
namespace {

constexpr int64_t kDim = 16;

SparseVec random_vec(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> value(0, 3);
    SparseVec vec;
    for (uint32_t latent = 0; latent < kDim; ++latent) {
        const int v = value(rng) == 0 ? value(rng) + 1 : 0;
        if (v == 0) continue;
        vec.idx.push_back(latent);
        vec.val.push_back(static_cast<float>(v));
        vec.l1 += v;
    }
    return vec;
}

Sample text_sample(const std::string& text) {
    Sample s;
    s.format = InputFormat::kText;
    s.text = text;
    return s;
}

TEST(Dedup, NormalisedTextIgnoresCaseAndWhitespaceOnly) {
    EXPECT_EQ("hello world", normalize_for_dedup(text_sample("  Hello \t\n World\n")));
    EXPECT_EQ(dedup_fingerprint(normalize_for_dedup(text_sample("A  b"))),
              dedup_fingerprint(normalize_for_dedup(text_sample("a b"))));
    EXPECT_NE(dedup_fingerprint(normalize_for_dedup(text_sample("a b."))),
              dedup_fingerprint(normalize_for_dedup(text_sample("a b"))));
    Sample user, assistant;
    user.turns = {{Role::kUser, "Same"}};
    assistant.turns = {{Role::kAssistant, "same"}};
    EXPECT_EQ("user: same", normalize_for_dedup(user));
    EXPECT_NE(normalize_for_dedup(user), normalize_for_dedup(assistant));
}

TEST(Dedup, HandComputedReasons) {
    const SparseVec a{{0, 1}, {1.0f, 1.0f}, 2.0};
    const SparseVec a_close{{0, 1, 2}, {1.0f, 1.0f, 1.0f}, 3.0};  // J(a, a_close) = 2/3
    const SparseVec b{{5}, {1.0f}, 1.0};
    const std::vector<uint64_t> ref_fp = {99};
    const std::vector<SparseVec> ref_vecs = {SparseVec{{7, 8}, {2.0f, 2.0f}, 4.0}};
    DedupFilter filter(0.6, &ref_fp, &ref_vecs);
    EXPECT_FALSE(filter.check(1, a).has_value());
    filter.keep(10, 1, a);
    auto exact = filter.check(1, b);  // same text, other vector
    ASSERT_TRUE(exact.has_value());
    EXPECT_EQ(DropKind::kExact, exact->kind);
    EXPECT_EQ(10u, exact->other_idx);
    auto near = filter.check(2, a_close);
    ASSERT_TRUE(near.has_value());
    EXPECT_EQ(DropKind::kNear, near->kind);
    EXPECT_DOUBLE_EQ(2.0 / 3.0, near->similarity);
    EXPECT_FALSE(filter.check(3, b).has_value());
    auto ref_exact = filter.check(99, b);
    ASSERT_TRUE(ref_exact.has_value());
    EXPECT_EQ(DropKind::kExactReference, ref_exact->kind);
    auto ref_near = filter.check(4, SparseVec{{7, 8}, {2.0f, 1.0f}, 3.0});  // J = 3/4
    ASSERT_TRUE(ref_near.has_value());
    EXPECT_EQ(DropKind::kNearReference, ref_near->kind);
    EXPECT_EQ(0u, ref_near->other_idx);
    EXPECT_STREQ("near-reference", drop_kind_name(ref_near->kind));
    // Above the threshold only: 2/3 < 0.7.
    DedupFilter strict(0.7);
    strict.keep(0, 1, a);
    EXPECT_FALSE(strict.check(2, a_close).has_value());
}

struct NaiveResult {
    std::vector<size_t> picks;
    std::vector<std::pair<size_t, DropKind>> drops;  // candidate, reason, in the order met
};

// MMR (score/diversity.hpp) with the drop rule of score/dedup.hpp, written out plainly on dense vectors.
NaiveResult naive_pick_dedup(const std::vector<double>& scores, const std::vector<SparseVec>& vecs,
                             const std::vector<uint64_t>& fps, size_t n, double lambda, double threshold,
                             const std::vector<uint64_t>& ref_fps, const std::vector<SparseVec>& ref_vecs) {
    auto dense = [](const SparseVec& v) { return reference::to_dense(v, kDim); };
    NaiveResult result;
    std::vector<bool> gone(scores.size(), false);
    while (result.picks.size() < n) {
        size_t best = scores.size();
        double best_value = 0.0;
        for (size_t cand = 0; cand < scores.size(); ++cand) {
            if (gone[cand]) continue;
            double max_sim = 0.0;
            for (size_t pick : result.picks) {
                max_sim = std::max(max_sim, reference::jaccard_dense(dense(vecs[cand]), dense(vecs[pick])));
            }
            const double value = scores[cand] - lambda * max_sim;
            if (best == scores.size() || value > best_value) best = cand, best_value = value;
        }
        if (best == scores.size()) break;
        gone[best] = true;
        std::optional<DropKind> drop;
        for (size_t pick : result.picks) {
            if (fps[pick] == fps[best]) drop = DropKind::kExact;
        }
        for (size_t pick : result.picks) {
            if (!drop && reference::jaccard_dense(dense(vecs[best]), dense(vecs[pick])) >= threshold) {
                drop = DropKind::kNear;
            }
        }
        for (uint64_t fp : ref_fps) {
            if (!drop && fp == fps[best]) drop = DropKind::kExactReference;
        }
        for (const auto& ref : ref_vecs) {
            if (!drop && reference::jaccard_dense(dense(vecs[best]), dense(ref)) >= threshold) {
                drop = DropKind::kNearReference;
            }
        }
        if (drop) {
            result.drops.push_back({best, *drop});
        } else {
            result.picks.push_back(best);
        }
    }
    return result;
}

TEST(Dedup, InsideMmrMatchesNaiveReference) {
    std::mt19937_64 rng(13);
    int n_drops = 0, n_kinds[4] = {0, 0, 0, 0};
    for (int trial = 0; trial < 300; ++trial) {
        const size_t n_cand = 1 + rng() % 30;
        std::vector<SparseVec> vecs;
        std::vector<uint64_t> fps;
        for (size_t cand = 0; cand < n_cand; ++cand) {
            // Some candidates repeat an earlier one's vector or text.
            if (cand > 0 && rng() % 5 == 0) {
                vecs.push_back(vecs[rng() % cand]);
            } else {
                vecs.push_back(random_vec(rng));
            }
            fps.push_back(rng() % (n_cand + 5));
        }
        std::vector<double> scores(n_cand);
        double s = 3.0;
        for (auto& score : scores) score = (s -= (rng() % 3) * 0.125);
        std::vector<uint64_t> ref_fps = {rng() % (n_cand + 5)};
        std::vector<SparseVec> ref_vecs = {random_vec(rng)};
        const size_t n = 1 + rng() % (n_cand + 2);
        for (double lambda : {0.0, 0.3, 1.0}) {
            for (double threshold : {0.5, 0.8, 1.0}) {
                const NaiveResult want = naive_pick_dedup(scores, vecs, fps, n, lambda, threshold, ref_fps, ref_vecs);
                DedupFilter filter(threshold, &ref_fps, &ref_vecs);
                std::vector<std::pair<size_t, DropKind>> drops;
                std::vector<const SparseVec*> ptrs;
                for (const auto& v : vecs) ptrs.push_back(&v);
                const auto picks = mmr_pick(scores, ptrs, n, lambda, nullptr, [&](size_t cand) {
                    if (auto why = filter.check(fps[cand], vecs[cand])) {
                        drops.push_back({cand, why->kind});
                        return false;
                    }
                    filter.keep(cand, fps[cand], vecs[cand]);
                    return true;
                });
                ASSERT_EQ(want.picks, picks) << "trial " << trial;
                ASSERT_EQ(want.drops, drops) << "trial " << trial;
                n_drops += static_cast<int>(drops.size());
                for (const auto& d : drops) ++n_kinds[static_cast<int>(d.second)];
            }
        }
    }
    // The cases exercise every reason.
    EXPECT_GT(n_drops, 0);
    for (int kind = 0; kind < 4; ++kind) EXPECT_GT(n_kinds[kind], 0) << drop_kind_name(static_cast<DropKind>(kind));
}

}  // namespace
}  // namespace mona
