// util/random.hpp: the portable random numbers every stage uses (one copy of each routine).
//
// Why not <random>'s distributions: std::uniform_int_distribution and std::shuffle use algorithms the standard
// leaves to the library, so the same seed would give different data on libstdc++ and libc++. mona's outputs
// (demo corpus, `random` eval method, SAE initialisation and shuffles) must be the same everywhere, so:
//   * generators: splitmix64 (Steele, Lea & Flood 2014, the constants of Vigna's reference code) and
//     std::mt19937_64, whose raw 64-bit sequence the standard fixes;
//   * a bounded draw by rejection on the raw output (uniform_below): unbiased, integer arithmetic only (and
//     lemire_below, the same guarantee by multiply-shift, for the one stream that was drawn that way);
//   * Fisher-Yates from the back on top of it (shuffle_in_place).
//
// Thread-safety: stateless functions are pure; a generator belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "mona/status.hpp"

namespace mona {

// Advances `state` by the golden-ratio increment and returns its mixed value: the splitmix64 generator.
inline uint64_t splitmix64_next(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// splitmix64 as a stateless hash: the first output of a generator seeded with x (derives independent seeds).
inline uint64_t splitmix64_hash(uint64_t x) { return splitmix64_next(x); }

// splitmix64 as a UniformRandomBitGenerator (usable with uniform_below and shuffle_in_place).
class SplitMix64 {
   public:
    using result_type = uint64_t;
    explicit SplitMix64(uint64_t seed) : state_(seed) {}
    uint64_t operator()() { return splitmix64_next(state_); }
    static constexpr uint64_t min() { return 0; }
    static constexpr uint64_t max() { return ~uint64_t{0}; }
    uint64_t state() const { return state_; }

   private:
    uint64_t state_;
};

// A uniform integer in [0, bound) from a generator of full-range 64-bit outputs (SplitMix64, std::mt19937_64),
// unbiased by rejection: draws x until x >= 2^64 mod bound, then returns x mod bound. The accepted range
// [2^64 mod bound, 2^64) has a length that is a multiple of bound. Precondition (asserted): bound >= 1.
template <class Gen>
uint64_t uniform_below(Gen& gen, uint64_t bound) {
    static_assert(Gen::min() == 0 && Gen::max() == ~uint64_t{0}, "uniform_below needs full-range 64-bit outputs");
    MONA_ASSERT(bound >= 1, "uniform_below: bound must be >= 1");
    // 2^64 mod bound, computed in 64 bits as (2^64 - bound) mod bound.
    const uint64_t reject_below = (0 - bound) % bound;
    for (;;) {
        const uint64_t x = gen();
        if (x >= reject_below) return x % bound;
    }
}

// A uniform integer in [0, bound) by Lemire's multiply-and-reject (2019): the high 64 bits of x * bound, with
// the few x whose low product bits fall below 2^64 mod bound redrawn. Also unbiased and platform-independent, but
// a different sequence from uniform_below's: it is the SAE trainer's shuffle buffer's draw, kept so that the
// default SAE (scripts/train_default_sae.sh) trains to the same weights. New code uses uniform_below.
template <class Gen>
uint64_t lemire_below(Gen& gen, uint64_t bound) {
    static_assert(Gen::min() == 0 && Gen::max() == ~uint64_t{0}, "lemire_below needs full-range 64-bit outputs");
    MONA_ASSERT(bound >= 1, "lemire_below: bound must be >= 1");
    unsigned __int128 m = static_cast<unsigned __int128>(gen()) * bound;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < bound) {
        const uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            m = static_cast<unsigned __int128>(gen()) * bound;
            low = static_cast<uint64_t>(m);
        }
    }
    return static_cast<uint64_t>(m >> 64);
}

// Fisher-Yates from the back: for pos = n-1 .. 1, swap items[pos] with items[uniform_below(gen, pos + 1)].
// Every permutation is equally likely, and a seed gives the same permutation on every platform.
template <class T, class Gen>
void shuffle_in_place(std::span<T> items, Gen& gen) {
    for (size_t pos = items.size(); pos > 1; --pos) std::swap(items[pos - 1], items[uniform_below(gen, pos)]);
}

}  // namespace mona
