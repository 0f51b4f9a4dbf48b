#include "io/atomic_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace mona {
namespace {

std::string temp_path(const std::string& stem) {
    return ::testing::TempDir() + "mona_atomic_file_test_" + std::to_string(::getpid()) + "_" + stem;
}

bool exists(const std::string& path) {
    struct stat info;
    return ::stat(path.c_str(), &info) == 0;
}

bool is_dir(const std::string& path) {
    struct stat info;
    return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

TEST(AtomicFile, CommitMovesTheTemporaryIntoPlace) {
    const std::string path = temp_path("commit.txt");
    std::remove(path.c_str());
    {
        Result<AtomicFile> file = AtomicFile::open(path);
        ASSERT_TRUE(file.ok()) << file.status().message();
        EXPECT_EQ(path + ".tmp." + std::to_string(::getpid()), file->temp_path());
        EXPECT_TRUE(exists(file->temp_path()));
        EXPECT_FALSE(exists(path));
        ASSERT_TRUE(file->write("hello ").ok());
        ASSERT_TRUE(file->write(std::string_view("world\n\0x", 8)).ok());
        EXPECT_FALSE(exists(path));
        Status committed = file->commit();
        ASSERT_TRUE(committed.ok()) << committed.message();
        EXPECT_TRUE(file->committed());
        EXPECT_FALSE(exists(file->temp_path()));
    }
    EXPECT_EQ(std::string("hello world\n\0x", 14), read_all(path));
    std::remove(path.c_str());
}

TEST(AtomicFile, UncommittedFileLeavesNothingBehind) {
    const std::string path = temp_path("abandoned.txt");
    std::remove(path.c_str());
    std::string temp;
    {
        Result<AtomicFile> file = AtomicFile::open(path);
        ASSERT_TRUE(file.ok()) << file.status().message();
        temp = file->temp_path();
        ASSERT_TRUE(file->write("partial").ok());
    }
    EXPECT_FALSE(exists(temp));
    EXPECT_FALSE(exists(path));
}

TEST(AtomicFile, UncommittedFileKeepsTheOldContents) {
    const std::string path = temp_path("keep.txt");
    ASSERT_TRUE(write_file_atomic(path, "old contents").ok());
    {
        Result<AtomicFile> file = AtomicFile::open(path);
        ASSERT_TRUE(file.ok()) << file.status().message();
        ASSERT_TRUE(file->write("new contents that never land").ok());
        file->discard();
        EXPECT_FALSE(exists(file->temp_path()));
        file->discard();
    }
    EXPECT_EQ("old contents", read_all(path));
    std::remove(path.c_str());
}

TEST(AtomicFile, CommitReplacesAnExistingFile) {
    const std::string path = temp_path("replace.txt");
    ASSERT_TRUE(write_file_atomic(path, "a much longer first version of the file\n").ok());
    ASSERT_TRUE(write_file_atomic(path, "v2").ok());
    EXPECT_EQ("v2", read_all(path));
    EXPECT_FALSE(exists(path + ".tmp." + std::to_string(::getpid())));
    std::remove(path.c_str());
}

TEST(AtomicFile, MoveTransfersOwnershipOfTheTemporary) {
    const std::string path = temp_path("moved.txt");
    std::remove(path.c_str());
    Result<AtomicFile> opened = AtomicFile::open(path);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    AtomicFile first = std::move(opened).value();
    ASSERT_TRUE(first.write("moved").ok());
    AtomicFile second = std::move(first);
    EXPECT_TRUE(exists(second.temp_path()));
    ASSERT_TRUE(second.commit().ok());
    EXPECT_EQ("moved", read_all(path));
    std::remove(path.c_str());
}

TEST(AtomicFile, EmptyContentCreatesAnEmptyFile) {
    const std::string path = temp_path("empty.txt");
    ASSERT_TRUE(write_file_atomic(path, "").ok());
    EXPECT_TRUE(exists(path));
    EXPECT_EQ("", read_all(path));
    std::remove(path.c_str());
}

TEST(AtomicFile, MissingDirectoryIsNotFoundNamingThePath) {
    const std::string path = temp_path("no_such_dir") + "/out.txt";
    Result<AtomicFile> file = AtomicFile::open(path);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(StatusCode::kNotFound, file.status().code());
    EXPECT_NE(std::string::npos, file.status().message().find(path)) << file.status().message();
    EXPECT_NE(std::string::npos, file.status().message().find("No such file or directory")) << file.status().message();

    Status status = write_file_atomic(path, "x");
    EXPECT_EQ(StatusCode::kNotFound, status.code());
    EXPECT_NE(std::string::npos, status.message().find(path)) << status.message();
}

TEST(AtomicFile, EnsureDirCreatesParents) {
    const std::string root = temp_path("tree");
    const std::string leaf = root + "/a/b//c/";
    ASSERT_TRUE(ensure_dir(leaf).ok());
    EXPECT_TRUE(is_dir(root + "/a/b/c"));
    ASSERT_TRUE(ensure_dir(leaf).ok()) << "an existing directory is fine";
    ASSERT_TRUE(write_file_atomic(root + "/a/b/c/f.txt", "x").ok());
    EXPECT_EQ("x", read_all(root + "/a/b/c/f.txt"));
    std::remove((root + "/a/b/c/f.txt").c_str());
    ::rmdir((root + "/a/b/c").c_str());
    ::rmdir((root + "/a/b").c_str());
    ::rmdir((root + "/a").c_str());
    ::rmdir(root.c_str());
}

TEST(AtomicFile, EnsureDirThroughAFileFailsNamingIt) {
    const std::string file = temp_path("plain_file");
    ASSERT_TRUE(write_file_atomic(file, "x").ok());
    Status status = ensure_dir(file + "/sub");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(StatusCode::kIo, status.code());
    EXPECT_NE(std::string::npos, status.message().find(file + "/sub")) << status.message();

    status = ensure_dir(file);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(std::string::npos, status.message().find("not a directory")) << status.message();
    std::remove(file.c_str());

    EXPECT_EQ(StatusCode::kInvalidInput, ensure_dir("").code());
}

}  // namespace
}  // namespace mona
