#include "util/sha256.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace mona {
namespace {

std::string temp_path(const std::string& stem) {
    return ::testing::TempDir() + "mona_sha256_test_" + std::to_string(::getpid()) + "_" + stem;
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    ASSERT_NE(nullptr, file) << path;
    ASSERT_EQ(bytes.size(), std::fwrite(bytes.data(), 1, bytes.size(), file));
    ASSERT_EQ(0, std::fclose(file));
}

std::string byte_ramp(size_t n_repeats) {
    std::string bytes;
    for (size_t repeat_idx = 0; repeat_idx < n_repeats; ++repeat_idx) {
        for (int byte = 0; byte < 256; ++byte) bytes.push_back(char(byte));
    }
    return bytes;
}

TEST(Sha256, MatchesFips180KnownVectors) {
    struct Case {
        std::string input;
        const char* expected;
    };
    const Case cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqr"
         "stu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(c.expected, sha256_hex(c.input.data(), c.input.size())) << "input length " << c.input.size();
    }
}

TEST(Sha256, PaddingBoundariesAroundOneBlock) {
    // 55 bytes is the longest message whose padding fits one block; 56..63 need a second one.
    struct Case {
        size_t n_bytes;
        const char* expected;
    };
    const Case cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {1000, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(c.expected, sha256_hex(std::string(c.n_bytes, 'a'))) << c.n_bytes << " x 'a'";
    }
}

TEST(Sha256, StreamingEqualsOneShotForEverySplit) {
    const std::string message = byte_ramp(1).substr(0, 200);
    const std::string expected = sha256_hex(message);
    for (size_t split = 0; split <= message.size(); ++split) {
        Sha256 hasher;
        hasher.update(message.data(), split);
        hasher.update(message.data() + split, message.size() - split);
        EXPECT_EQ(expected, hasher.finish_hex()) << "split at " << split;
    }
    Sha256 byte_at_a_time;
    for (char c : message) byte_at_a_time.update(&c, 1);
    EXPECT_EQ(expected, byte_at_a_time.finish_hex());
}

TEST(Sha256, ResetStartsAFreshDigest) {
    Sha256 hasher;
    hasher.update("garbage");
    (void)hasher.finish();
    hasher.reset();
    hasher.update("abc");
    const Sha256::Digest digest = hasher.finish();
    EXPECT_EQ(0xba, digest[0]);
    EXPECT_EQ(0xad, digest[31]);
    EXPECT_EQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", to_hex(digest));
}

TEST(Sha256, FileLargerThanOneChunk) {
    // 1,280,000 bytes: one full 1 MiB chunk plus a partial one.
    const std::string path = temp_path("ramp.bin");
    write_bytes(path, byte_ramp(5000));
    Result<std::string> digest = sha256_file(path);
    ASSERT_TRUE(digest.ok()) << digest.status().message();
    EXPECT_EQ("7d471e4af16db5a30ce10aebbc29f5178b2edbad6c7dc2e8ff8ee6e4848a726f", digest.value());
    std::remove(path.c_str());
}

TEST(Sha256, EmptyFile) {
    const std::string path = temp_path("empty.bin");
    write_bytes(path, "");
    Result<std::string> digest = sha256_file(path);
    ASSERT_TRUE(digest.ok()) << digest.status().message();
    EXPECT_EQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", digest.value());
    std::remove(path.c_str());
}

TEST(Sha256, MissingFileIsNotFoundNamingThePath) {
    const std::string path = temp_path("does_not_exist.bin");
    Result<std::string> digest = sha256_file(path);
    ASSERT_FALSE(digest.ok());
    EXPECT_EQ(StatusCode::kNotFound, digest.status().code());
    EXPECT_NE(std::string::npos, digest.status().message().find(path)) << digest.status().message();
}

TEST(Sha256, DirectoryIsAnIoError) {
    Result<std::string> digest = sha256_file(::testing::TempDir());
    ASSERT_FALSE(digest.ok());
    EXPECT_EQ(StatusCode::kIo, digest.status().code()) << digest.status().message();
    EXPECT_NE(std::string::npos, digest.status().message().find(::testing::TempDir())) << digest.status().message();
}

}  // namespace
}  // namespace mona
