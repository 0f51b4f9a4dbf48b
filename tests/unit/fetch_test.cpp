#include "io/fetch.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "util/sha256.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

class FetchTest : public ::testing::Test {
   protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("mona_fetch_test_" + std::to_string(::getpid()));
        fs::create_directories(dir_ / "cache");
        src_ = (dir_ / "model.gguf").string();
        std::ofstream(src_, std::ios::binary) << std::string(100000, 'x') << "tail";
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
    std::string src_;
};

TEST(Fetch, RecognisesUrls) {
    EXPECT_TRUE(is_url("https://example.org/m.gguf"));
    EXPECT_TRUE(is_url("file:///tmp/m.gguf"));
    EXPECT_FALSE(is_url("/tmp/m.gguf"));
    EXPECT_FALSE(is_url("models/https.gguf"));
}

TEST_F(FetchTest, LocalPathIsReturnedAndItsShaChecked) {
    auto digest = sha256_file(src_);
    ASSERT_TRUE(digest.ok());
    auto ok = resolve_model_source(src_, digest.value());
    ASSERT_TRUE(ok.ok()) << ok.status().message();
    EXPECT_EQ(src_, ok.value());
    auto bad = resolve_model_source(src_, std::string(64, '0'));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("sha256 mismatch"), std::string::npos) << bad.status().message();
    EXPECT_NE(bad.status().message().find(digest.value()), std::string::npos);
    EXPECT_FALSE(resolve_model_source(src_, "abc").ok());
}

TEST_F(FetchTest, UrlDownloadsResumesAndCaches) {
    if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
    const std::string cache = (dir_ / "cache").string();
    auto digest = sha256_file(src_);
    ASSERT_TRUE(digest.ok());
    // An interrupted earlier download left the first 1000 bytes; the fetch resumes it.
    {
        std::ifstream in(src_, std::ios::binary);
        std::string head(1000, '\0');
        in.read(head.data(), 1000);
        std::ofstream(cache + "/model.gguf.part", std::ios::binary) << head;
    }
    auto got = resolve_model_source("file://" + src_, digest.value(), cache);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(cache + "/model.gguf", got.value());
    EXPECT_EQ(digest.value(), sha256_file(got.value()).value());
    EXPECT_FALSE(fs::exists(cache + "/model.gguf.part"));
    // Cached now: a second call does not need the source.
    fs::remove(src_);
    auto again = resolve_model_source("file://" + src_, digest.value(), cache);
    ASSERT_TRUE(again.ok()) << again.status().message();
}

TEST_F(FetchTest, ShaMismatchRemovesThePartialFile) {
    if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
    const std::string cache = (dir_ / "cache").string();
    auto got = resolve_model_source("file://" + src_, std::string(64, 'a'), cache);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("sha256 mismatch"), std::string::npos);
    EXPECT_FALSE(fs::exists(cache + "/model.gguf"));
    EXPECT_FALSE(fs::exists(cache + "/model.gguf.part"));
    auto missing = resolve_model_source("file://" + (dir_ / "nope.gguf").string(), "", cache);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.status().message().find("nope.gguf"), std::string::npos);
}

}  // namespace
}  // namespace mona
