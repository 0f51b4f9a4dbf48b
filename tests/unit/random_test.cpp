// util/random.hpp: splitmix64 pinned to its reference values, the unbiased bounded draw, and Fisher-Yates.
#include "util/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace mona {
namespace {

TEST(Random, SplitMix64MatchesTheReferenceSequence) {
    // Vigna's splitmix64.c seeded with 1234567: the first outputs (also what Java's SplittableRandom gives).
    uint64_t state = 1234567;
    EXPECT_EQ(6457827717110365317ull, splitmix64_next(state));
    EXPECT_EQ(3203168211198807973ull, splitmix64_next(state));
    EXPECT_EQ(9817491932198370423ull, splitmix64_next(state));
    EXPECT_EQ(1234567 + 3 * 0x9E3779B97F4A7C15ull, state);
    // The hash is the first output of a generator seeded with its argument; SplitMix64 is the same generator.
    EXPECT_EQ(6457827717110365317ull, splitmix64_hash(1234567));
    SplitMix64 gen(1234567);
    EXPECT_EQ(6457827717110365317ull, gen());
    EXPECT_EQ(3203168211198807973ull, gen());
}

TEST(Random, UniformBelowRejectsTheBiasedLowRange) {
    std::mt19937_64 rng(5);
    for (int draw_idx = 0; draw_idx < 100; ++draw_idx) EXPECT_EQ(0u, uniform_below(rng, 1));
    // bound = 2^63 + 1: 2^64 mod bound = 2^63 - 1, so raw values below 2^63 - 1 (about half) are redrawn and the
    // result is the first accepted raw value mod bound.
    const uint64_t bound = (uint64_t{1} << 63) + 1;
    const uint64_t reject_below = (uint64_t{1} << 63) - 1;
    std::mt19937_64 drawn(11);
    std::mt19937_64 raw(11);
    for (int draw_idx = 0; draw_idx < 50; ++draw_idx) {
        uint64_t x = raw();
        while (x < reject_below) x = raw();
        EXPECT_EQ(x % bound, uniform_below(drawn, bound)) << "draw " << draw_idx;
    }
    EXPECT_EQ(raw(), drawn());  // both consumed the same raw values
    // A small bound accepts every raw value but the lowest 2^64 mod bound ones: the result is raw % bound.
    SplitMix64 gen(3);
    SplitMix64 ref(3);
    for (int draw_idx = 0; draw_idx < 100; ++draw_idx) EXPECT_EQ(ref() % 10, uniform_below(gen, 10));
}

TEST(Random, UniformBelowIsUniformOnASmallRange) {
    // 60000 draws over 6 values: each count within 5 sigma of 10000 (sigma ~ 91).
    SplitMix64 gen(7);
    std::vector<int> counts(6, 0);
    for (int draw_idx = 0; draw_idx < 60000; ++draw_idx) ++counts[uniform_below(gen, 6)];
    for (int value = 0; value < 6; ++value) EXPECT_NEAR(10000, counts[value], 460) << "value " << value;
}

TEST(Random, LemireBelowIsTheHighWordOfTheProductWithRejection) {
    // The plain form, in 128-bit arithmetic: x * bound, redrawn while (x * bound) mod 2^64 < 2^64 mod bound.
    for (const uint64_t bound : {uint64_t{1}, uint64_t{7}, uint64_t{1000}, (uint64_t{1} << 63) + 1, ~uint64_t{0}}) {
        SplitMix64 gen(21);
        SplitMix64 raw(21);
        for (int draw_idx = 0; draw_idx < 200; ++draw_idx) {
            const uint64_t reject_below = (0 - bound) % bound;
            unsigned __int128 m = static_cast<unsigned __int128>(raw()) * bound;
            while (static_cast<uint64_t>(m) < reject_below) m = static_cast<unsigned __int128>(raw()) * bound;
            ASSERT_EQ(static_cast<uint64_t>(m >> 64), lemire_below(gen, bound)) << "bound " << bound;
        }
        EXPECT_EQ(raw.state(), gen.state()) << "bound " << bound;
    }
    // Pinned (values from an independent Python splitmix64): the shuffle buffer's, and so the default SAE's,
    // sampling order must not drift.
    SplitMix64 gen(0);
    std::vector<uint64_t> draws;
    for (int draw_idx = 0; draw_idx < 5; ++draw_idx) draws.push_back(lemire_below(gen, 65536));
    EXPECT_EQ((std::vector<uint64_t>{57888, 28280, 1732, 63627, 6969}), draws);
}

// The plain form: for pos = n-1 .. 1, swap with a draw in [0, pos].
std::vector<int> naive_shuffle(int n, uint64_t seed) {
    std::vector<int> items(static_cast<size_t>(n));
    std::iota(items.begin(), items.end(), 0);
    std::mt19937_64 rng(seed);
    for (int pos = n - 1; pos > 0; --pos) {
        const uint64_t bound = static_cast<uint64_t>(pos) + 1;
        const uint64_t reject_below = (0 - bound) % bound;
        uint64_t x = rng();
        while (x < reject_below) x = rng();
        std::swap(items[static_cast<size_t>(pos)], items[x % bound]);
    }
    return items;
}

TEST(Random, ShuffleInPlaceIsFisherYatesFromTheBack) {
    for (const int n : {0, 1, 2, 7, 64, 1000}) {
        std::vector<int> items(static_cast<size_t>(n));
        std::iota(items.begin(), items.end(), 0);
        std::mt19937_64 rng(42);
        shuffle_in_place(std::span<int>(items), rng);
        EXPECT_EQ(naive_shuffle(n, 42), items) << "n " << n;
        std::sort(items.begin(), items.end());
        for (int idx = 0; idx < n; ++idx) ASSERT_EQ(idx, items[static_cast<size_t>(idx)]);
    }
}

TEST(Random, UnbiasedShuffleKeepsTheDefaultSaesEpochOrders) {
    // Issue 10: train-sae's in-memory epochs shuffled with the biased rng() % (pos + 1). uniform_below differs only
    // when a raw draw falls below 2^64 mod (pos + 1) (odds ~ pos / 2^64), so for the default SAE's recipe (seed 0,
    // epochs 2-5, at most 1200 documents x 256 tokens of rows) the fix gives the very same orders, and the
    // default SAE the same weights.
    const int64_t n_rows = 1200 * 256;
    for (uint64_t epoch = 1; epoch <= 4; ++epoch) {
        std::vector<int64_t> biased(static_cast<size_t>(n_rows));
        std::iota(biased.begin(), biased.end(), 0);
        std::vector<int64_t> fixed = biased;
        std::mt19937_64 old_rng(0 * 1000003 + epoch);
        for (int64_t pos = n_rows - 1; pos > 0; --pos) {
            std::swap(biased[static_cast<size_t>(pos)], biased[old_rng() % static_cast<uint64_t>(pos + 1)]);
        }
        std::mt19937_64 rng(0 * 1000003 + epoch);
        shuffle_in_place(std::span<int64_t>(fixed), rng);
        EXPECT_TRUE(biased == fixed) << "epoch " << epoch;
    }
}

TEST(Random, ShuffleInPlaceReachesEveryPermutationEvenly) {
    // 3 items: 6 permutations, 60000 shuffles, each within 5 sigma of 10000.
    SplitMix64 gen(9);
    std::vector<int> counts(9 * 9 + 9 + 1, 0);
    for (int run = 0; run < 60000; ++run) {
        std::vector<int> items = {0, 1, 2};
        shuffle_in_place(std::span<int>(items), gen);
        ++counts[static_cast<size_t>(items[0] * 9 + items[1] * 3 + items[2])];
    }
    int n_seen = 0;
    for (const int count : counts) {
        if (count == 0) continue;
        ++n_seen;
        EXPECT_NEAR(10000, count, 460);
    }
    EXPECT_EQ(6, n_seen);
}

}  // namespace
}  // namespace mona
