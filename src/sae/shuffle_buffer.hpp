// sae/shuffle_buffer.hpp: a bounded in-memory shuffle buffer for activation rows.
//
// SAE training wants batches of tokens drawn from many documents at once, but activations arrive in
// document order, one forward pass at a time. Llama Scope and sparsify solve this with a producer/consumer
// buffer instead of caching activations on disk (spec sae-formats.md §5.8, throughput notes): the producer
// pushes rows as they are captured, the trainer pops batches sampled uniformly from whatever is held.
//
// The buffer holds at most `capacity_rows` rows of width `d` (f32) in one preallocated block, so memory is
// bounded by capacity_rows * d * 4 bytes. pop_batch() draws rows uniformly without replacement by
// swap-remove: pick a slot with the seeded RNG, copy its row out, move the last row into the slot. Every
// pushed row therefore leaves exactly once, through pop_batch() or drain(), and the order depends only on
// the seed and the sequence of push/pop calls.
//
// Usage sketch (a producer loop):
//   MONA_TRY(auto buf, ShuffleBuffer::create({.d = 576, .capacity_rows = 1 << 18, .seed = 7}));
//   for each captured block (rows, n):
//       while (n > 0) {
//           int64_t taken = buf.push(rows, n);  rows += taken * d;  n -= taken;
//           while (buf.pop_batch(4096, batch)) trainer.step(batch.data(), 4096);
//       }
//   buf.drain(rest);   // the tail, shuffled; train on it or drop it
//
// "Full enough": pop_batch(n) only succeeds while size() >= max(n, min_fill_rows), so early batches are not
// drawn from the first few documents alone. drain() ignores min_fill_rows.
//
// Thread-safety: none; one thread (or external locking) per buffer. Movable, not copyable.
#pragma once

#include <cstdint>
#include <vector>

#include "mona/status.hpp"

namespace mona {

struct ShuffleBufferOptions {
    int64_t d = 0;              // row width in floats (d_in of the SAE); must be > 0
    int64_t capacity_rows = 0;  // rows held at most; must be > 0
    int64_t min_fill_rows = 0;  // pop_batch(n) needs size() >= max(n, min_fill_rows); 0 = capacity_rows / 2
    uint64_t seed = 0;          // RNG seed for the sampling order
};

class ShuffleBuffer {
   public:
    // kInvalidInput when d or capacity_rows is not positive, min_fill_rows is negative or above capacity_rows,
    // or capacity_rows * d overflows.
    static Result<ShuffleBuffer> create(const ShuffleBufferOptions& options);

    ShuffleBuffer(ShuffleBuffer&&) noexcept = default;
    ShuffleBuffer& operator=(ShuffleBuffer&&) noexcept = default;
    ShuffleBuffer(const ShuffleBuffer&) = delete;
    ShuffleBuffer& operator=(const ShuffleBuffer&) = delete;

    int64_t d() const { return d_; }
    int64_t capacity() const { return capacity_; }
    int64_t size() const { return size_; }
    int64_t free_rows() const { return capacity_ - size_; }

    // Copies up to n rows of `rows` [n, d] (row-major) into the buffer and returns how many it took:
    // min(n, free_rows()). The caller pushes the rest after popping.
    int64_t push(const float* rows, int64_t n);

    // True when pop_batch(n) would succeed.
    bool ready(int64_t n) const;

    // When ready(n): removes n rows sampled uniformly without replacement, writes them to `out` (resized to
    // [n, d]) and returns true. Otherwise returns false and leaves `out` untouched.
    bool pop_batch(int64_t n, std::vector<float>& out);

    // Removes every remaining row in random order into `out` (resized to [size(), d]); returns the count.
    int64_t drain(std::vector<float>& out);

   private:
    ShuffleBuffer(const ShuffleBufferOptions& options, int64_t min_fill);
    void take_rows(int64_t n, float* out);
    uint64_t next_below(uint64_t bound);

    int64_t d_ = 0;
    int64_t capacity_ = 0;
    int64_t min_fill_ = 0;
    int64_t size_ = 0;
    uint64_t rng_state_ = 0;
    std::vector<float> rows_;  // [capacity, d]; the first size_ rows are live
};

}  // namespace mona
