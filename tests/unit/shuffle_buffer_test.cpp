#include "sae/shuffle_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace mona {
namespace {

constexpr int64_t kD = 3;

// Row r is {r, r + 0.25, r + 0.5}: exact in f32, so a row's identity is its first value.
std::vector<float> make_rows(int64_t first, int64_t n) {
    std::vector<float> rows;
    for (int64_t row_idx = first; row_idx < first + n; ++row_idx) {
        for (int64_t col = 0; col < kD; ++col) rows.push_back(static_cast<float>(row_idx) + 0.25f * col);
    }
    return rows;
}

// Pushes n_total rows in blocks of 7, popping batches of 5 whenever ready, then drains; returns the row ids in
// the order they came out. Checks that every row that comes out is intact.
std::vector<int64_t> run_stream(uint64_t seed, int64_t n_total, int64_t capacity) {
    auto made = ShuffleBuffer::create({.d = kD, .capacity_rows = capacity, .min_fill_rows = 0, .seed = seed});
    EXPECT_TRUE(made.ok()) << made.status().message();
    ShuffleBuffer buf = std::move(made).value();
    std::vector<int64_t> order;
    std::vector<float> batch;
    auto record = [&](const std::vector<float>& rows) {
        for (size_t row_idx = 0; row_idx < rows.size() / kD; ++row_idx) {
            const float id = rows[row_idx * kD];
            for (int64_t col = 0; col < kD; ++col) EXPECT_EQ(id + 0.25f * col, rows[row_idx * kD + col]);
            order.push_back(static_cast<int64_t>(id));
        }
    };
    for (int64_t first = 0; first < n_total; first += 7) {
        const int64_t n = std::min<int64_t>(7, n_total - first);
        std::vector<float> block = make_rows(first, n);
        const float* src = block.data();
        int64_t left = n;
        while (left > 0) {
            const int64_t taken = buf.push(src, left);
            src += taken * kD;
            left -= taken;
            EXPECT_LE(buf.size(), buf.capacity());
            while (buf.pop_batch(5, batch)) {
                EXPECT_EQ(5 * kD, static_cast<int64_t>(batch.size()));
                record(batch);
            }
        }
    }
    buf.drain(batch);
    record(batch);
    EXPECT_EQ(0, buf.size());
    return order;
}

TEST(ShuffleBuffer, EveryPushedRowComesOutExactlyOnce) {
    const std::vector<int64_t> order = run_stream(42, 100, 16);
    ASSERT_EQ(100u, order.size());
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t row_idx = 0; row_idx < 100; ++row_idx) EXPECT_EQ(row_idx, sorted[row_idx]);
    // And the order is actually shuffled.
    EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
}

TEST(ShuffleBuffer, SameSeedGivesSameOrderAndOtherSeedsDiffer) {
    EXPECT_EQ(run_stream(7, 60, 12), run_stream(7, 60, 12));
    EXPECT_NE(run_stream(7, 60, 12), run_stream(8, 60, 12));
}

TEST(ShuffleBuffer, PopWaitsUntilFullEnough) {
    auto made = ShuffleBuffer::create({.d = kD, .capacity_rows = 10, .min_fill_rows = 6, .seed = 1});
    ASSERT_TRUE(made.ok());
    ShuffleBuffer buf = std::move(made).value();
    std::vector<float> rows = make_rows(0, 12);
    EXPECT_EQ(5, buf.push(rows.data(), 5));
    std::vector<float> out = {1.0f};
    EXPECT_FALSE(buf.ready(2));
    EXPECT_FALSE(buf.pop_batch(2, out));
    EXPECT_EQ(std::vector<float>{1.0f}, out);         // untouched on refusal
    EXPECT_EQ(5, buf.push(rows.data() + 5 * kD, 7));  // only 5 fit
    EXPECT_EQ(10, buf.size());
    EXPECT_EQ(0, buf.free_rows());
    EXPECT_TRUE(buf.pop_batch(4, out));
    EXPECT_EQ(6, buf.size());
    EXPECT_TRUE(buf.ready(6));
    EXPECT_FALSE(buf.ready(7));
    EXPECT_EQ(6, buf.drain(out));
    EXPECT_EQ(6 * kD, static_cast<int64_t>(out.size()));
}

TEST(ShuffleBuffer, DefaultMinFillIsHalfTheCapacity) {
    auto made = ShuffleBuffer::create({.d = 1, .capacity_rows = 8, .min_fill_rows = 0, .seed = 1});
    ASSERT_TRUE(made.ok());
    ShuffleBuffer buf = std::move(made).value();
    const std::vector<float> rows(8, 1.0f);
    buf.push(rows.data(), 3);
    EXPECT_FALSE(buf.ready(1));
    buf.push(rows.data(), 1);
    EXPECT_TRUE(buf.ready(1));
}

TEST(ShuffleBuffer, RejectsBadOptions) {
    EXPECT_EQ(StatusCode::kInvalidInput, ShuffleBuffer::create({.d = 0, .capacity_rows = 4}).status().code());
    EXPECT_EQ(StatusCode::kInvalidInput, ShuffleBuffer::create({.d = 2, .capacity_rows = 0}).status().code());
    auto too_full = ShuffleBuffer::create({.d = 2, .capacity_rows = 4, .min_fill_rows = 5});
    EXPECT_EQ(StatusCode::kInvalidInput, too_full.status().code());
    EXPECT_NE(std::string::npos, too_full.status().message().find("min_fill_rows"));
}

}  // namespace
}  // namespace mona
