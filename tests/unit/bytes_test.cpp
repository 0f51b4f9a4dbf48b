// util/bytes.hpp: varints against their LEB128 bytes, bounded reads that stop at the end, the rank messages'
// round trip, and CRC-32 against the standard check value.
#include "util/bytes.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace mona {
namespace {

std::string varint_bytes(uint64_t value) {
    std::string out;
    put_varint(out, value);
    return out;
}

TEST(Bytes, VarintsAreLeb128) {
    EXPECT_EQ(std::string(1, '\0'), varint_bytes(0));
    EXPECT_EQ("\x7f", varint_bytes(127));
    EXPECT_EQ("\x80\x01", varint_bytes(128));
    EXPECT_EQ("\xac\x02", varint_bytes(300));
    EXPECT_EQ("\xff\x7f", varint_bytes(16383));
    EXPECT_EQ("\x80\x80\x01", varint_bytes(16384));
    EXPECT_EQ("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", varint_bytes(std::numeric_limits<uint64_t>::max()));
}

TEST(Bytes, VarintsRoundTripAtEveryLength) {
    std::vector<uint64_t> values = {0, 1, 127, 128, 255, 16383, 16384, std::numeric_limits<uint64_t>::max()};
    for (int shift = 0; shift < 64; ++shift) {
        values.push_back(uint64_t{1} << shift);
        values.push_back((uint64_t{1} << shift) - 1);
    }
    std::string all;
    for (const uint64_t value : values) put_varint(all, value);
    ByteReader reader(all);
    for (const uint64_t value : values) {
        uint64_t read = 0;
        ASSERT_TRUE(reader.varint(read)) << value;
        EXPECT_EQ(value, read);
    }
    EXPECT_TRUE(reader.done());
    uint64_t read = 0;
    EXPECT_FALSE(reader.varint(read));
}

TEST(Bytes, BadVarintsAreRefusedNotOverread) {
    uint64_t value = 0;
    for (const std::string& bad : {std::string("\x80"), std::string("\xff\xff"), std::string("")}) {
        ByteReader reader(bad);
        EXPECT_FALSE(reader.varint(value)) << "truncated varint of " << bad.size() << " bytes";
    }
    // A 10th byte may carry only bit 63; 11 continuation bytes are never a 64-bit value.
    const std::string overflow = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02";
    EXPECT_FALSE(ByteReader(overflow).varint(value));
    const std::string too_long = "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01";
    EXPECT_FALSE(ByteReader(too_long).varint(value));
}

TEST(Bytes, BoundedReadsStopAtTheEnd) {
    std::string bytes;
    put_raw<uint32_t>(bytes, 0xdeadbeef);
    put_raw<double>(bytes, -2.5);
    bytes += "xyz";
    ByteReader reader(bytes.data(), bytes.data() + bytes.size());
    uint32_t u = 0;
    double d = 0;
    ASSERT_TRUE(reader.raw(u));
    EXPECT_EQ(0xdeadbeefu, u);
    ASSERT_TRUE(reader.raw(d));
    EXPECT_EQ(-2.5, d);
    EXPECT_EQ(3u, reader.remaining());
    EXPECT_FALSE(reader.raw(u));  // 3 bytes left, 4 asked
    const char* data = nullptr;
    EXPECT_FALSE(reader.bytes(4, data));
    ASSERT_TRUE(reader.bytes(3, data));
    EXPECT_EQ("xyz", std::string(data, 3));
    EXPECT_TRUE(reader.done());
    EXPECT_TRUE(reader.bytes(0, data));
    EXPECT_FALSE(reader.raw(u));
}

TEST(Bytes, RankMessagesRoundTrip) {
    ByteWriter writer;
    writer.put<int32_t>(-7);
    writer.put<uint64_t>(std::numeric_limits<uint64_t>::max());
    writer.put(0.1);
    writer.put_string("");
    writer.put_string(std::string("a\0b", 3));
    writer.put_vector(std::vector<float>{1.5f, -0.0f, 3e38f});
    writer.put_vector(std::vector<double>{});
    const std::string bytes = writer.bytes();
    ByteReader reader(bytes);
    EXPECT_EQ(-7, reader.get<int32_t>());
    EXPECT_EQ(std::numeric_limits<uint64_t>::max(), reader.get<uint64_t>());
    EXPECT_EQ(0.1, reader.get<double>());
    EXPECT_EQ("", reader.get_string());
    EXPECT_EQ(std::string("a\0b", 3), reader.get_string());
    const std::vector<float> floats = reader.get_vector<float>();
    ASSERT_EQ(3u, floats.size());
    EXPECT_EQ(1.5f, floats[0]);
    EXPECT_TRUE(std::signbit(floats[1]));
    EXPECT_EQ(3e38f, floats[2]);
    EXPECT_TRUE(reader.get_vector<double>().empty());
    EXPECT_TRUE(reader.done());
}

TEST(BytesDeathTest, AShortRankMessageIsABug) {
    const std::string bytes(3, '\0');
    EXPECT_DEATH(ByteReader(bytes).get<uint32_t>(), "read past the end");
    std::string huge;
    put_raw<uint64_t>(huge, uint64_t{1} << 60);  // a vector length no message holds: refused before allocating
    EXPECT_DEATH(ByteReader(huge).get_vector<float>(), "read past the end");
}

TEST(Bytes, Crc32IsZlibsAndIncremental) {
    const std::string check = "123456789";
    EXPECT_EQ(0xCBF43926u, crc32_of(check.data(), check.size()));  // the CRC-32 check value
    EXPECT_EQ(0u, crc32_of(nullptr, 0));
    Crc32 crc;
    for (size_t split = 0; split <= check.size(); ++split) {
        crc = Crc32();
        crc.update(check.data(), split);
        crc.update(check.data() + split, check.size() - split);
        EXPECT_EQ(0xCBF43926u, crc.value()) << "split at " << split;
    }
}

}  // namespace
}  // namespace mona
