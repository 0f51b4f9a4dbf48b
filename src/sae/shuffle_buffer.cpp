#include "sae/shuffle_buffer.hpp"

#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "util/random.hpp"

namespace mona {

Result<ShuffleBuffer> ShuffleBuffer::create(const ShuffleBufferOptions& options) {
    if (options.d <= 0) return invalid_input("shuffle buffer: d must be > 0, got " + std::to_string(options.d));
    if (options.capacity_rows <= 0) {
        return invalid_input("shuffle buffer: capacity_rows must be > 0, got " + std::to_string(options.capacity_rows));
    }
    if (options.min_fill_rows < 0 || options.min_fill_rows > options.capacity_rows) {
        return invalid_input("shuffle buffer: min_fill_rows must be in [0, capacity_rows=" +
                             std::to_string(options.capacity_rows) + "], got " + std::to_string(options.min_fill_rows));
    }
    if (options.capacity_rows > std::numeric_limits<int64_t>::max() / options.d) {
        return invalid_input("shuffle buffer: capacity_rows * d overflows");
    }
    const int64_t min_fill = options.min_fill_rows > 0 ? options.min_fill_rows : options.capacity_rows / 2;
    try {
        return ShuffleBuffer(options, min_fill);
    } catch (const std::bad_alloc&) {
        return internal_error("shuffle buffer: cannot allocate " + std::to_string(options.capacity_rows) + " x " +
                              std::to_string(options.d) + " floats");
    }
}

ShuffleBuffer::ShuffleBuffer(const ShuffleBufferOptions& options, int64_t min_fill)
    : d_(options.d),
      capacity_(options.capacity_rows),
      min_fill_(min_fill),
      rng_state_(options.seed),
      rows_(static_cast<size_t>(options.capacity_rows * options.d)) {}

int64_t ShuffleBuffer::push(const float* rows, int64_t n) {
    MONA_ASSERT(n >= 0, "ShuffleBuffer::push: negative row count");
    const int64_t taken = n < free_rows() ? n : free_rows();
    if (taken > 0) {
        std::memcpy(rows_.data() + size_ * d_, rows, static_cast<size_t>(taken * d_) * sizeof(float));
        size_ += taken;
    }
    return taken;
}

bool ShuffleBuffer::ready(int64_t n) const { return n >= 0 && size_ >= n && size_ >= min_fill_; }

bool ShuffleBuffer::pop_batch(int64_t n, std::vector<float>& out) {
    if (!ready(n)) return false;
    out.resize(static_cast<size_t>(n * d_));
    take_rows(n, out.data());
    return true;
}

int64_t ShuffleBuffer::drain(std::vector<float>& out) {
    const int64_t n = size_;
    out.resize(static_cast<size_t>(n * d_));
    take_rows(n, out.data());
    return n;
}

void ShuffleBuffer::take_rows(int64_t n, float* out) {
    const size_t row_bytes = static_cast<size_t>(d_) * sizeof(float);
    for (int64_t row_idx = 0; row_idx < n; ++row_idx) {
        const int64_t slot = static_cast<int64_t>(next_below(static_cast<uint64_t>(size_)));
        const int64_t last = size_ - 1;
        std::memcpy(out + row_idx * d_, rows_.data() + slot * d_, row_bytes);
        if (slot != last) std::memcpy(rows_.data() + slot * d_, rows_.data() + last * d_, row_bytes);
        --size_;
    }
}

// Lemire's draw (util/random.hpp), not uniform_below: the buffer's order decides which rows the default SAE
// trains on in its first epoch, so changing the draw would change its weights.
uint64_t ShuffleBuffer::next_below(uint64_t bound) {
    MONA_ASSERT(bound > 0, "ShuffleBuffer: sampling from an empty buffer");
    SplitMix64 gen(rng_state_);
    const uint64_t pick = lemire_below(gen, bound);
    rng_state_ = gen.state();
    return pick;
}

}  // namespace mona
