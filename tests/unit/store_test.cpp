// The feature store (issue 5): exact round trips, keep-truncation, corruption detection naming the shard, resume
// after interruption (dropped writers and real kill -9) giving byte-identical stores, parameter mismatch errors,
// slices read as one (StoreSet) and merged (merge_stores), and the empty store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "store/feature_store.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

const char* const kParams = R"({"model": "tiny.gguf", "layer": 20, "sae": {"k": 192, "path": "sae/"}, "keep": 0})";

std::vector<std::string>& created_dirs() {
    static std::vector<std::string> dirs;
    return dirs;
}

// Removes every directory the tests made, after the last test (a killed child never gets here).
class RemoveStoreDirs : public ::testing::Environment {
   public:
    void TearDown() override {
        for (const std::string& dir : created_dirs()) fs::remove_all(dir);
    }
};
const ::testing::Environment* const kRemoveStoreDirs = ::testing::AddGlobalTestEnvironment(new RemoveStoreDirs);

std::string fresh_dir(const std::string& stem) {
    const std::string dir = ::testing::TempDir() + "mona_store_test_" + std::to_string(::getpid()) + "_" + stem;
    fs::remove_all(dir);
    created_dirs().push_back(dir);
    return dir;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

// Every file of a store directory except the (empty) lock file, by name.
std::map<std::string, std::string> dir_files(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& item : fs::directory_iterator(dir)) {
        const std::string name = item.path().filename().string();
        if (name != ".lock") files[name] = read_file(item.path().string());
    }
    return files;
}

// Random samples: nnz in [0, max_nnz], distinct ascending indices below d_sae, integer-valued or fractional
// values, l1 the exact sum. record_idx ascends with gaps (skipped records) when `gaps` is set.
std::vector<StoredSample> random_samples(size_t n, uint32_t seed, uint32_t d_sae = 5000, size_t max_nnz = 60,
                                         bool gaps = false) {
    std::mt19937 rng(seed);
    std::vector<StoredSample> samples(n);
    uint64_t record_idx = 0;
    for (size_t row = 0; row < n; ++row) {
        StoredSample& s = samples[row];
        if (gaps && rng() % 5 == 0) record_idx += 1 + rng() % 3;
        s.record_idx = record_idx++;
        s.source_pos = s.record_idx * 117 + rng() % 100;
        s.id = "sample-" + std::to_string(s.record_idx);
        s.n_tokens = rng() % 3000;
        const size_t nnz = std::min<size_t>(rng() % (max_nnz + 1), d_sae);
        std::vector<uint32_t> idx;
        while (idx.size() < nnz) {
            idx.push_back(rng() % d_sae);
            std::sort(idx.begin(), idx.end());
            idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
        }
        s.vec.idx = idx;
        for (size_t k = 0; k < nnz; ++k) {
            const float value =
                (rng() % 2) ? static_cast<float>(1 + rng() % 8) : std::ldexp(float(rng() % 100000), -13);
            s.vec.val.push_back(value);
            s.vec.l1 += value;
        }
    }
    return samples;
}

std::string describe(const StoredSample& s) {
    return "record " + std::to_string(s.record_idx) + " id '" + s.id + "' nnz " + std::to_string(s.vec.nnz());
}

void expect_same_sample(const StoredSample& expected, const StoredSample& actual) {
    EXPECT_EQ(expected.record_idx, actual.record_idx);
    EXPECT_EQ(expected.source_pos, actual.source_pos) << describe(expected);
    EXPECT_EQ(expected.id, actual.id) << describe(expected);
    EXPECT_EQ(expected.n_tokens, actual.n_tokens) << describe(expected);
    EXPECT_EQ(expected.vec.idx, actual.vec.idx) << describe(expected);
    ASSERT_EQ(expected.vec.val.size(), actual.vec.val.size()) << describe(expected);
    // Bitwise: -0.0, denormals and every float must come back unchanged. (memcmp of two empty vectors would get
    // null pointers, undefined even for length 0: UBSan reports it.)
    if (!expected.vec.val.empty()) {
        EXPECT_EQ(0,
                  std::memcmp(expected.vec.val.data(), actual.vec.val.data(), expected.vec.val.size() * sizeof(float)))
            << describe(expected);
    }
    EXPECT_EQ(0, std::memcmp(&expected.vec.l1, &actual.vec.l1, sizeof(double))) << describe(expected);
}

void expect_same_samples(const std::vector<StoredSample>& expected, const std::vector<StoredSample>& actual) {
    ASSERT_EQ(expected.size(), actual.size());
    for (size_t row = 0; row < expected.size(); ++row) {
        SCOPED_TRACE("row " + std::to_string(row));
        expect_same_sample(expected[row], actual[row]);
    }
}

StoreOptions options(uint64_t shard_rows, uint32_t keep = 0, bool resume = false) {
    StoreOptions opts;
    opts.shard_rows = shard_rows;
    opts.keep = keep;
    opts.params_json = kParams;
    opts.resume = resume;
    return opts;
}

void write_store(const std::string& dir, const std::vector<StoredSample>& samples, const StoreOptions& opts) {
    Result<StoreWriter> writer = StoreWriter::open(dir, opts);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    for (const StoredSample& sample : samples) {
        Status status = writer->append(sample);
        ASSERT_TRUE(status.ok()) << status.message();
    }
    Status status = writer->commit();
    ASSERT_TRUE(status.ok()) << status.message();
}

Result<std::vector<StoredSample>> read_all(const StoreReader& reader) {
    std::vector<StoredSample> out;
    Status status = reader.for_each([&out](const StoredSample& s) {
        out.push_back(s);
        return Status();
    });
    if (!status.ok()) return status;
    return out;
}

std::vector<StoredSample> read_store(const std::string& dir) {
    Result<StoreReader> reader = StoreReader::open(dir);
    EXPECT_TRUE(reader.ok()) << reader.status().message();
    if (!reader.ok()) return {};
    Result<std::vector<StoredSample>> samples = read_all(*reader);
    EXPECT_TRUE(samples.ok()) << samples.status().message();
    return samples.ok() ? *samples : std::vector<StoredSample>{};
}

// The naive top-m: sort all entries by (value desc, index asc), keep m, back to index order.
SparseVec reference_truncate(const SparseVec& v, size_t keep) {
    std::vector<std::pair<uint32_t, float>> entries;
    for (size_t k = 0; k < v.nnz(); ++k) entries.emplace_back(v.idx[k], v.val[k]);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (keep > 0 && entries.size() > keep) entries.resize(keep);
    std::sort(entries.begin(), entries.end());
    SparseVec out;
    for (const auto& [index, value] : entries) {
        out.idx.push_back(index);
        out.val.push_back(value);
    }
    out.l1 = v.l1;
    return out;
}

// ---- round trip ------------------------------------------------------------------------------------------------

TEST(StoreRoundTrip, RandomSparseVectorsComeBackExactly) {
    const std::string dir = fresh_dir("roundtrip");
    const std::vector<StoredSample> samples = random_samples(1000, 7, 131072, 300, true);
    write_store(dir, samples, options(64));

    Result<StoreReader> reader = StoreReader::open(dir);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    EXPECT_EQ(1000u, reader->size());
    EXPECT_EQ(16u, reader->n_shards());  // 15 full shards of 64 + one of 40
    EXPECT_EQ(64u, reader->shard_rows());
    EXPECT_TRUE(reader->complete());
    EXPECT_EQ(0u, reader->keep());
    EXPECT_EQ(R"({"keep":0,"layer":20,"model":"tiny.gguf","sae":{"k":192,"path":"sae/"}})", reader->params_json());
    Result<std::vector<StoredSample>> back = read_all(*reader);
    ASSERT_TRUE(back.ok()) << back.status().message();
    expect_same_samples(samples, *back);
    Status verified = reader->verify();
    EXPECT_TRUE(verified.ok()) << verified.message();

    // Shard by shard gives the same sequence.
    std::vector<StoredSample> by_shard;
    for (size_t shard_idx = 0; shard_idx < reader->n_shards(); ++shard_idx) {
        Status status = reader->for_each_in_shard(shard_idx, [&by_shard](const StoredSample& s) {
            by_shard.push_back(s);
            return Status();
        });
        ASSERT_TRUE(status.ok()) << status.message();
    }
    expect_same_samples(samples, by_shard);
}

TEST(StoreRoundTrip, EdgeValuesSurvive) {
    const std::string dir = fresh_dir("edges");
    std::vector<StoredSample> samples(5);
    samples[0].record_idx = 0;  // empty vector, empty id, zero everything
    samples[1].record_idx = 1;
    samples[1].id = std::string("nul\0byte, \xc3\xa9t\xc3\xa9, \"quoted\"\n", 26);
    samples[1].vec.idx = {0, 1, 2, 127, 128, 16383, 16384, std::numeric_limits<uint32_t>::max()};
    samples[1].vec.val = {
        0.0f, -0.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(), 1e-30f, 3.14159f,
        0.1f, 7.0f};
    samples[1].vec.l1 = 0.1;
    samples[1].n_tokens = std::numeric_limits<uint32_t>::max();
    samples[2].record_idx = (uint64_t{1} << 40) + 3;
    samples[2].source_pos = std::numeric_limits<uint64_t>::max();
    samples[2].id = std::string(5000, 'x');
    samples[2].vec.idx = {std::numeric_limits<uint32_t>::max()};
    samples[2].vec.val = {1.0f};
    samples[2].vec.l1 = 123456.789;
    samples[3].record_idx = std::numeric_limits<uint64_t>::max() - 1;
    samples[4].record_idx = std::numeric_limits<uint64_t>::max();
    samples[4].vec.idx = {5};
    samples[4].vec.val = {2.0f};
    samples[4].vec.l1 = 2.0;
    write_store(dir, samples, options(2));
    expect_same_samples(samples, read_store(dir));
}

TEST(StoreRoundTrip, EmptyStoreIsValid) {
    const std::string dir = fresh_dir("empty");
    write_store(dir, {}, options(8));
    Result<StoreReader> reader = StoreReader::open(dir);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    EXPECT_EQ(0u, reader->size());
    EXPECT_EQ(0u, reader->n_shards());
    EXPECT_EQ(0u, reader->bytes_on_disk());
    EXPECT_TRUE(reader->complete());
    int n_calls = 0;
    EXPECT_TRUE(reader
                    ->for_each([&n_calls](const StoredSample&) {
                        ++n_calls;
                        return Status();
                    })
                    .ok());
    EXPECT_EQ(0, n_calls);
    EXPECT_TRUE(reader->verify().ok());

    // A writer that never commits still leaves a valid (incomplete) empty store.
    const std::string dir2 = fresh_dir("empty_uncommitted");
    { ASSERT_TRUE(StoreWriter::open(dir2, options(8)).ok()); }
    Result<StoreReader> reader2 = StoreReader::open(dir2);
    ASSERT_TRUE(reader2.ok()) << reader2.status().message();
    EXPECT_FALSE(reader2->complete());
    EXPECT_EQ(0u, reader2->size());

    // Resuming the committed empty store: nothing done, nothing to do, same bytes.
    const auto before = dir_files(dir);
    Result<StoreWriter> writer = StoreWriter::open(dir, options(8, 0, true));
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    EXPECT_EQ(0u, writer->n_done());
    EXPECT_FALSE(writer->last_record_idx().has_value());
    ASSERT_TRUE(writer->commit().ok());
    EXPECT_EQ(before, dir_files(dir));
}

TEST(StoreRoundTrip, SlicingRuleIsRecordIndexModuloN) {
    for (uint64_t record_idx = 0; record_idx < 50; ++record_idx) {
        for (uint32_t n_slices = 1; n_slices <= 4; ++n_slices) {
            int n_owners = 0;
            for (uint32_t slice_idx = 0; slice_idx < n_slices; ++slice_idx) {
                const bool owns = belongs_to_slice(record_idx, slice_idx, n_slices);
                EXPECT_EQ(record_idx % n_slices == slice_idx, owns);
                n_owners += owns;
            }
            EXPECT_EQ(1, n_owners);
        }
    }
}

// ---- keep --------------------------------------------------------------------------------------------------------

TEST(StoreKeep, TruncateTopKeepsLargestValuesLowerIndexOnTies) {
    SparseVec v;
    v.idx = {1, 3, 7, 9, 11, 20};
    v.val = {5, 2, 5, 2, 1, 2};
    v.l1 = 17;
    const SparseVec top3 = truncate_top(v, 3);
    EXPECT_EQ((std::vector<uint32_t>{1, 3, 7}), top3.idx);  // 5, 5, then the lowest-index 2
    EXPECT_EQ((std::vector<float>{5, 2, 5}), top3.val);
    EXPECT_EQ(17.0, top3.l1);
    const SparseVec top4 = truncate_top(v, 4);
    EXPECT_EQ((std::vector<uint32_t>{1, 3, 7, 9}), top4.idx);
    EXPECT_EQ(v.idx, truncate_top(v, 0).idx);
    EXPECT_EQ(v.idx, truncate_top(v, 6).idx);
    EXPECT_EQ(v.idx, truncate_top(v, 100).idx);
}

TEST(StoreKeep, StoredVectorsAreTheTopMWithTheFullL1) {
    // Small integer values force many ties.
    std::vector<StoredSample> samples = random_samples(300, 11, 2000, 120);
    std::mt19937 rng(5);
    for (StoredSample& s : samples) {
        s.vec.l1 = 0;
        for (float& value : s.vec.val) {
            value = static_cast<float>(1 + rng() % 4);
            s.vec.l1 += value;
        }
    }
    for (uint32_t keep : {1u, 7u, 32u, 64u}) {
        SCOPED_TRACE("keep " + std::to_string(keep));
        const std::string dir = fresh_dir("keep" + std::to_string(keep));
        write_store(dir, samples, options(50, keep));
        std::vector<StoredSample> expected = samples;
        for (StoredSample& s : expected) s.vec = reference_truncate(s.vec, keep);
        expect_same_samples(expected, read_store(dir));
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_TRUE(reader.ok());
        EXPECT_EQ(keep, reader->keep());
        EXPECT_TRUE(reader->verify().ok());
    }
}

// Bytes per sample, for the header's table: uniformly spread indices in d_sae = 131072, nnz = 1500.
TEST(StoreKeep, SizeIsDocumented) {
    std::vector<StoredSample> samples = random_samples(100, 3, 131072, 0);
    std::mt19937 rng(9);
    for (StoredSample& s : samples) {
        std::vector<uint32_t> all(131072);
        for (uint32_t k = 0; k < all.size(); ++k) all[k] = k;
        std::shuffle(all.begin(), all.end(), rng);
        all.resize(1500);
        std::sort(all.begin(), all.end());
        s.vec.idx = all;
        s.vec.val.clear();
        s.vec.l1 = 0;
        for (size_t k = 0; k < all.size(); ++k) {
            s.vec.val.push_back(std::ldexp(float(1 + rng() % 100000), -16));
            s.vec.l1 += s.vec.val.back();
        }
    }
    for (uint32_t keep : {0u, 256u, 64u}) {
        const std::string dir = fresh_dir("size" + std::to_string(keep));
        write_store(dir, samples, options(100, keep));
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_TRUE(reader.ok());
        const double per_sample = double(reader->bytes_on_disk()) / double(reader->size());
        std::cout << "[ store    ] nnz 1500, keep " << keep << ": " << per_sample << " bytes/sample\n";
        const size_t n_latents = keep == 0 ? 1500 : keep;
        EXPECT_LT(per_sample, 6.2 * n_latents + 40) << "keep " << keep;  // ≤ 4 B value + ~2 B gap per latent
        EXPECT_GT(per_sample, 5.0 * n_latents) << "keep " << keep;
        fs::remove_all(dir);
    }
}

// ---- corruption ----------------------------------------------------------------------------------------------

TEST(StoreCorruption, EveryFlippedByteIsDetectedAndNamesTheShard) {
    const std::string dir = fresh_dir("corrupt");
    const std::vector<StoredSample> samples = random_samples(12, 21, 300, 6);
    write_store(dir, samples, options(4));
    const std::string shard = dir + "/shard-00001.bin";
    const std::string original = read_file(shard);
    ASSERT_GT(original.size(), 44u);
    for (size_t pos = 0; pos < original.size(); ++pos) {
        for (const uint8_t mask : {0x01, 0xff}) {
            std::string corrupted = original;
            corrupted[pos] = static_cast<char>(corrupted[pos] ^ mask);
            write_file(shard, corrupted);
            Result<StoreReader> reader = StoreReader::open(dir);
            ASSERT_TRUE(reader.ok()) << reader.status().message();
            size_t n_seen = 0;
            Status status = reader->for_each([&n_seen](const StoredSample&) {
                ++n_seen;
                return Status();
            });
            ASSERT_FALSE(status.ok()) << "byte " << pos << " mask " << int(mask);
            EXPECT_EQ(StatusCode::kInvalidInput, status.code());
            EXPECT_NE(std::string::npos, status.message().find("shard-00001.bin")) << status.message();
            EXPECT_EQ(4u, n_seen) << "no sample of a corrupted shard may be passed on (byte " << pos << ")";
            Status verified = reader->verify();
            EXPECT_FALSE(verified.ok());
            EXPECT_NE(std::string::npos, verified.message().find("shard-00001.bin")) << verified.message();
        }
    }
    write_file(shard, original);
    EXPECT_TRUE(StoreReader::open(dir)->verify().ok());
}

TEST(StoreCorruption, TruncatedMissingOrSwappedShardsAndBadManifestsAreErrors) {
    const std::string dir = fresh_dir("corrupt_files");
    write_store(dir, random_samples(12, 22, 300, 6), options(4));
    const std::string shard = dir + "/shard-00002.bin";
    const std::string original = read_file(shard);

    write_file(shard, original.substr(0, original.size() - 1));
    Result<StoreReader> reader = StoreReader::open(dir);
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(std::string::npos, reader.status().message().find("shard-00002.bin")) << reader.status().message();
    EXPECT_NE(std::string::npos, reader.status().message().find("truncated")) << reader.status().message();

    fs::remove(shard);
    reader = StoreReader::open(dir);
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(std::string::npos, reader.status().message().find("shard-00002.bin")) << reader.status().message();
    EXPECT_NE(std::string::npos, reader.status().message().find("missing")) << reader.status().message();
    write_file(shard, original);

    // A shard from another store of the same size has a valid trailer but not the manifest's checksum.
    const std::string other = fresh_dir("corrupt_files_other");
    write_store(other, random_samples(12, 23, 300, 6), options(4));
    const std::string foreign = read_file(other + "/shard-00002.bin");
    if (foreign.size() == original.size() && foreign != original) {
        write_file(shard, foreign);
        Status status = StoreReader::open(dir)->for_each([](const StoredSample&) { return Status(); });
        EXPECT_FALSE(status.ok());
        EXPECT_NE(std::string::npos, status.message().find("shard-00002.bin")) << status.message();
        write_file(shard, original);
    }

    const std::string manifest = read_file(dir + "/manifest.json");
    write_file(dir + "/manifest.json", manifest.substr(0, manifest.size() / 2));
    reader = StoreReader::open(dir);
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(std::string::npos, reader.status().message().find("manifest.json")) << reader.status().message();

    std::string renamed = manifest;
    renamed.replace(renamed.find("shard-00001.bin"), 15, "../../etc/passw");
    write_file(dir + "/manifest.json", renamed);
    reader = StoreReader::open(dir);
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(std::string::npos, reader.status().message().find("shards[1].file")) << reader.status().message();

    std::string newer = manifest;
    newer.replace(newer.find("\"format_version\": 1"), 19, "\"format_version\": 9");
    write_file(dir + "/manifest.json", newer);
    reader = StoreReader::open(dir);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(StatusCode::kUnsupported, reader.status().code()) << reader.status().message();

    write_file(dir + "/manifest.json", manifest);
    EXPECT_TRUE(StoreReader::open(dir)->verify().ok());
    EXPECT_EQ(StatusCode::kNotFound, StoreReader::open(dir + "/nope").status().code());
}

// ---- writer input checks -------------------------------------------------------------------------------------

TEST(StoreWriterChecks, BadSamplesAreRejectedAndLeaveTheStoreUsable) {
    const std::string dir = fresh_dir("bad_samples");
    Result<StoreWriter> writer = StoreWriter::open(dir, options(4));
    ASSERT_TRUE(writer.ok());
    StoredSample good;
    good.record_idx = 5;
    good.vec.idx = {1, 2};
    good.vec.val = {1, 1};
    good.vec.l1 = 2;
    ASSERT_TRUE(writer->append(good).ok());

    auto expect_rejected = [&](StoredSample s, const std::string& fragment) {
        Status status = writer->append(s);
        EXPECT_EQ(StatusCode::kInvalidInput, status.code()) << fragment;
        EXPECT_NE(std::string::npos, status.message().find(fragment)) << status.message();
    };
    StoredSample s = good;
    expect_rejected(s, "not after the previous");  // record 5 again
    s.record_idx = 6;
    s.vec.idx = {2, 2};
    expect_rejected(s, "strictly increasing");
    s.vec.idx = {1};
    expect_rejected(s, "1 indices but 2 values");
    s.vec.idx = {1, 2};
    s.vec.val = {1, std::nanf("")};
    expect_rejected(s, "not finite");
    s.vec.val = {1, 1};
    s.vec.l1 = -1;
    expect_rejected(s, "l1");
    s.vec.l1 = 2;
    ASSERT_TRUE(writer->append(s).ok());
    ASSERT_TRUE(writer->commit().ok());
    EXPECT_EQ(2u, read_store(dir).size());

    // Slice checks and bad options.
    StoreOptions sliced = options(4);
    sliced.slice_idx = 1;
    sliced.n_slices = 3;
    Result<StoreWriter> slice_writer = StoreWriter::open(fresh_dir("bad_slice"), sliced);
    ASSERT_TRUE(slice_writer.ok());
    s.record_idx = 3;
    Status status = slice_writer->append(s);
    EXPECT_NE(std::string::npos, status.message().find("slice 1/3")) << status.message();
    s.record_idx = 4;
    EXPECT_TRUE(slice_writer->append(s).ok());
    sliced.slice_idx = 3;
    EXPECT_EQ(StatusCode::kInvalidInput, StoreWriter::open(fresh_dir("bad_slice2"), sliced).status().code());
    StoreOptions bad_json = options(4);
    bad_json.params_json = "[1, 2]";
    EXPECT_EQ(StatusCode::kInvalidInput, StoreWriter::open(fresh_dir("bad_json"), bad_json).status().code());
    bad_json.params_json = "{\"a\": ";
    EXPECT_EQ(StatusCode::kInvalidInput, StoreWriter::open(fresh_dir("bad_json"), bad_json).status().code());
}

TEST(StoreWriterChecks, ExistingStoreNeedsResumeAndOneWriterAtATime) {
    const std::string dir = fresh_dir("exists");
    write_store(dir, random_samples(3, 1), options(4));
    Result<StoreWriter> again = StoreWriter::open(dir, options(4));
    EXPECT_EQ(StatusCode::kInvalidInput, again.status().code());
    EXPECT_NE(std::string::npos, again.status().message().find("already exists")) << again.status().message();

    const std::string dir2 = fresh_dir("locked");
    Result<StoreWriter> first = StoreWriter::open(dir2, options(4));
    ASSERT_TRUE(first.ok());
    Result<StoreWriter> second = StoreWriter::open(dir2, options(4, 0, true));
    EXPECT_FALSE(second.ok());
    EXPECT_NE(std::string::npos, second.status().message().find("another writer")) << second.status().message();
    first = Result<StoreWriter>(invalid_input("released"));  // drops the first writer and its lock
    EXPECT_TRUE(StoreWriter::open(dir2, options(4, 0, true)).ok());
}

// ---- resume --------------------------------------------------------------------------------------------------

// Writes samples[0, stop) and drops the writer without commit, as a crash would.
void write_interrupted(const std::string& dir, const std::vector<StoredSample>& samples, size_t stop,
                       const StoreOptions& opts) {
    Result<StoreWriter> writer = StoreWriter::open(dir, opts);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    for (size_t row = writer->n_done(); row < stop; ++row) ASSERT_TRUE(writer->append(samples[row]).ok());
}

void finish_with_resume(const std::string& dir, const std::vector<StoredSample>& samples, uint64_t expect_done,
                        uint64_t shard_rows) {
    Result<StoreWriter> writer = StoreWriter::open(dir, options(shard_rows, 0, true));
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    EXPECT_EQ(expect_done, writer->n_done());
    if (expect_done > 0) {
        ASSERT_TRUE(writer->last_record_idx().has_value());
        EXPECT_EQ(samples[expect_done - 1].record_idx, *writer->last_record_idx());
    }
    for (size_t row = writer->n_done(); row < samples.size(); ++row) {
        Status status = writer->append(samples[row]);
        ASSERT_TRUE(status.ok()) << status.message();
    }
    EXPECT_EQ(samples.size(), writer->size());
    ASSERT_TRUE(writer->commit().ok());
}

TEST(StoreResume, InterruptedAtAnyPointFinishesByteIdentical) {
    const std::vector<StoredSample> samples = random_samples(103, 31, 4000, 40, true);
    const std::string reference = fresh_dir("resume_ref");
    write_store(reference, samples, options(10));
    const auto expected = dir_files(reference);
    ASSERT_EQ(12u, expected.size());  // manifest + 11 shards

    for (size_t stop : {0, 1, 9, 10, 11, 55, 100, 102, 103}) {
        SCOPED_TRACE("interrupted after " + std::to_string(stop) + " samples");
        const std::string dir = fresh_dir("resume_" + std::to_string(stop));
        write_interrupted(dir, samples, stop, options(10));
        Result<StoreReader> partial = StoreReader::open(dir);
        ASSERT_TRUE(partial.ok()) << partial.status().message();
        EXPECT_FALSE(partial->complete());
        EXPECT_EQ(stop / 10 * 10, partial->size());
        EXPECT_TRUE(partial->verify().ok());
        finish_with_resume(dir, samples, stop / 10 * 10, 10);
        EXPECT_EQ(expected, dir_files(dir));
    }
}

TEST(StoreResume, RepeatedInterruptionsAndCrashLeftoversStillFinishByteIdentical) {
    const std::vector<StoredSample> samples = random_samples(103, 32, 4000, 40);
    const std::string reference = fresh_dir("resume2_ref");
    write_store(reference, samples, options(10));

    const std::string dir = fresh_dir("resume2");
    write_interrupted(dir, samples, 35, options(10));
    write_interrupted(dir, samples, 72, options(10, 0, true));
    write_interrupted(dir, samples, 73, options(10, 0, true));
    // What a kill -9 can leave: temporaries and a shard renamed before its manifest update.
    write_file(dir + "/shard-00007.bin", "stale shard written before the crash");
    write_file(dir + "/shard-00008.bin.tmp.4242", "half a shard");
    write_file(dir + "/manifest.json.tmp.4242", "{");
    EXPECT_EQ(70u, StoreReader::open(dir)->size());
    finish_with_resume(dir, samples, 70, 10);
    EXPECT_EQ(dir_files(reference), dir_files(dir));
}

TEST(StoreResume, CommittedStoreCanBeResumedAndExtended) {
    const std::vector<StoredSample> samples = random_samples(103, 33, 4000, 40);
    const std::string reference = fresh_dir("extend_ref");
    write_store(reference, samples, options(10));

    // A committed store: resuming with nothing left to do keeps it as is.
    const auto before = dir_files(reference);
    finish_with_resume(reference, samples, 103, 10);
    EXPECT_EQ(before, dir_files(reference));

    // A store committed at 95 (partial last shard of 5) extended to 103 equals the one written in one go.
    const std::string dir = fresh_dir("extend");
    write_store(dir, std::vector<StoredSample>(samples.begin(), samples.begin() + 95), options(10));
    EXPECT_TRUE(StoreReader::open(dir)->complete());
    finish_with_resume(dir, samples, 95, 10);
    EXPECT_EQ(dir_files(reference), dir_files(dir));
}

TEST(StoreResume, KillNineAtManyMomentsThenResumeIsByteIdentical) {
    const std::vector<StoredSample> samples = random_samples(120, 34, 20000, 200);
    const std::string reference = fresh_dir("kill_ref");
    const auto started = std::chrono::steady_clock::now();
    write_store(reference, samples, options(4));
    // Kill moments are fractions of an uninterrupted run's time, which fsync speed dominates on most machines.
    const double run_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count() + 200.0;
    const auto expected = dir_files(reference);

    const std::string dir = fresh_dir("kill");
    std::vector<std::string> seen;
    // Successive kill -9 of successive resumed runs of the same "command": each run continues the last one.
    for (double fraction : {0.0, 0.03, 0.06, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5}) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            Result<StoreWriter> writer = StoreWriter::open(dir, options(4, 0, true));
            if (!writer.ok()) ::_exit(2);
            for (size_t row = writer->n_done(); row < samples.size(); ++row) {
                if (!writer->append(samples[row]).ok()) ::_exit(3);
            }
            ::_exit(writer->commit().ok() ? 0 : 4);
        }
        ::usleep(static_cast<useconds_t>(fraction * run_us));
        ::kill(pid, SIGKILL);
        int wstatus = 0;
        ASSERT_EQ(pid, ::waitpid(pid, &wstatus, 0));
        if (!WIFSIGNALED(wstatus)) {
            ASSERT_TRUE(WIFEXITED(wstatus));
            ASSERT_EQ(0, WEXITSTATUS(wstatus)) << "the child failed on its own";
        }
        // Whatever the moment, what is there is a valid store of completed shards.
        if (!fs::exists(dir + "/manifest.json")) {
            seen.push_back("none");
            continue;
        }
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_TRUE(reader.ok()) << reader.status().message();
        Status verified = reader->verify();
        ASSERT_TRUE(verified.ok()) << verified.message();
        EXPECT_TRUE(reader->size() % 4 == 0 || reader->complete()) << reader->size();
        seen.push_back(std::to_string(reader->size()) + (reader->complete() ? "c" : ""));
    }
    std::cout << "[ store    ] samples stored after each kill (c = committed):";
    for (const std::string& item : seen) std::cout << " " << item;
    std::cout << "\n";
    Result<StoreWriter> writer = StoreWriter::open(dir, options(4, 0, true));
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    for (size_t row = writer->n_done(); row < samples.size(); ++row) ASSERT_TRUE(writer->append(samples[row]).ok());
    ASSERT_TRUE(writer->commit().ok());
    EXPECT_EQ(expected, dir_files(dir));
}

TEST(StoreResume, DifferentParametersAreRefusedByName) {
    const std::string dir = fresh_dir("mismatch");
    write_interrupted(dir, random_samples(25, 41), 25, options(10));
    const auto before = dir_files(dir);

    struct Case {
        std::string params;
        uint32_t keep;
        uint64_t shard_rows;
        std::string message;
    };
    const Case cases[] = {
        {R"({"model": "tiny.gguf", "layer": 21, "sae": {"k": 192, "path": "sae/"}, "keep": 0})", 0, 10,
         "parameter 'layer' differs (store: 20, now: 21)"},
        {R"({"model": "tiny.gguf", "layer": 20, "sae": {"k": 96, "path": "sae/"}, "keep": 0})", 0, 10,
         "parameter 'sae.k' differs (store: 192, now: 96)"},
        {R"({"model": "big.gguf", "layer": 20, "sae": {"k": 192, "path": "sae/"}, "keep": 0})", 0, 10,
         "parameter 'model' differs (store: \"tiny.gguf\", now: \"big.gguf\")"},
        {R"({"model": "tiny.gguf", "layer": 20, "sae": {"k": 192, "path": "sae/"}})", 0, 10,
         "parameter 'keep' differs (store: 0, now: absent)"},
        {R"({"model": "tiny.gguf", "layer": 20, "sae": {"k": 192, "path": "sae/"}, "keep": 0, "x": 1})", 0, 10,
         "parameter 'x' differs (store: absent, now: 1)"},
        {kParams, 64, 10, "store option 'keep' differs (store: 0, now: 64)"},
        {kParams, 0, 0, "store option 'shard_rows' differs (store: 10, now: 1024)"},
    };
    for (const Case& c : cases) {
        StoreOptions opts = options(c.shard_rows, c.keep, true);
        opts.params_json = c.params;
        Result<StoreWriter> writer = StoreWriter::open(dir, opts);
        ASSERT_FALSE(writer.ok()) << c.message;
        EXPECT_EQ(StatusCode::kInvalidInput, writer.status().code());
        EXPECT_NE(std::string::npos, writer.status().message().find(c.message)) << writer.status().message();
        EXPECT_NE(std::string::npos, writer.status().message().find("cannot resume")) << writer.status().message();
    }
    // Key order and whitespace do not matter; numbers compare by value.
    StoreOptions same = options(10, 0, true);
    same.params_json = R"({"sae":{"path":"sae/","k":192.0},"keep":0,"layer":20,"model":"tiny.gguf"})";
    Result<StoreWriter> writer = StoreWriter::open(dir, same);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    EXPECT_EQ(20u, writer->n_done());
    writer = Result<StoreWriter>(invalid_input("released"));
    EXPECT_EQ(before, dir_files(dir));
}

// ---- slices: StoreSet and merge -----------------------------------------------------------------------------

std::vector<std::string> write_slices(const std::string& stem, const std::vector<StoredSample>& samples, uint32_t n,
                                      uint64_t shard_rows, uint32_t keep = 0) {
    std::vector<std::string> dirs;
    for (uint32_t slice_idx = 0; slice_idx < n; ++slice_idx) {
        const std::string dir = fresh_dir(stem + "_" + std::to_string(slice_idx) + "of" + std::to_string(n));
        StoreOptions opts = options(shard_rows, keep);
        opts.slice_idx = slice_idx;
        opts.n_slices = n;
        std::vector<StoredSample> mine;
        for (const StoredSample& s : samples) {
            if (belongs_to_slice(s.record_idx, slice_idx, n)) mine.push_back(s);
        }
        write_store(dir, mine, opts);
        dirs.push_back(dir);
    }
    return dirs;
}

std::vector<StoredSample> read_set(const StoreSet& set) {
    std::vector<StoredSample> out;
    Status status = set.for_each([&out](const StoredSample& s) {
        out.push_back(s);
        return Status();
    });
    EXPECT_TRUE(status.ok()) << status.message();
    return out;
}

TEST(StoreSet, SliceStoresReadAsOneAndMergeIntoTheSingleStore) {
    const std::vector<StoredSample> samples = random_samples(157, 51, 3000, 30, true);
    for (uint32_t keep : {0u, 8u}) {
        const std::string single = fresh_dir("single_keep" + std::to_string(keep));
        write_store(single, samples, options(16, keep));
        const std::vector<StoredSample> expected = read_store(single);
        for (uint32_t n : {1u, 2u, 3u}) {
            SCOPED_TRACE("n = " + std::to_string(n) + ", keep " + std::to_string(keep));
            std::vector<std::string> dirs = write_slices("slices_k" + std::to_string(keep), samples, n, 12, keep);
            std::reverse(dirs.begin(), dirs.end());  // any order of directories
            Result<StoreSet> set = StoreSet::open(dirs);
            ASSERT_TRUE(set.ok()) << set.status().message();
            EXPECT_EQ(samples.size(), set->size());
            EXPECT_EQ(n, set->n_stores());
            EXPECT_EQ(keep, set->keep());
            EXPECT_TRUE(set->verify().ok());
            expect_same_samples(expected, read_set(*set));

            const std::string merged = fresh_dir("merged_k" + std::to_string(keep) + "_" + std::to_string(n));
            MergeOptions merge_options;
            merge_options.shard_rows = 16;
            Status status = merge_stores(merged, dirs, merge_options);
            ASSERT_TRUE(status.ok()) << status.message();
            EXPECT_EQ(dir_files(single), dir_files(merged));
        }
    }
}

TEST(StoreSet, InterruptedMergeResumes) {
    const std::vector<StoredSample> samples = random_samples(60, 52, 3000, 30);
    const std::string single = fresh_dir("merge_resume_single");
    write_store(single, samples, options(8));
    const std::vector<std::string> dirs = write_slices("merge_resume", samples, 2, 8);
    const std::string merged = fresh_dir("merge_resume_out");
    StoreOptions opts = options(8);
    write_interrupted(merged, samples, 30, opts);  // as if merge had been killed after 3 shards
    MergeOptions merge_options;
    merge_options.resume = true;
    Status status = merge_stores(merged, dirs, merge_options);  // shard_rows 0: the inputs' 8
    ASSERT_TRUE(status.ok()) << status.message();
    EXPECT_EQ(dir_files(single), dir_files(merged));
}

TEST(StoreSet, InconsistentSetsAreRefused) {
    const std::vector<StoredSample> samples = random_samples(40, 53);
    const std::vector<std::string> dirs = write_slices("bad_set", samples, 3, 4);

    Result<StoreSet> two_of_three = StoreSet::open({dirs[0], dirs[1]});
    ASSERT_FALSE(two_of_three.ok());
    EXPECT_NE(std::string::npos, two_of_three.status().message().find("slice 0/3")) << two_of_three.status().message();

    Result<StoreSet> repeated = StoreSet::open({dirs[0], dirs[1], dirs[1]});
    ASSERT_FALSE(repeated.ok());
    EXPECT_NE(std::string::npos, repeated.status().message().find("slice 1 is also in")) << repeated.status().message();

    // A slice embedded with another layer.
    const std::string other = fresh_dir("bad_set_layer");
    StoreOptions opts = options(4);
    opts.params_json = R"({"model": "tiny.gguf", "layer": 21, "sae": {"k": 192, "path": "sae/"}, "keep": 0})";
    opts.slice_idx = 2;
    opts.n_slices = 3;
    std::vector<StoredSample> mine;
    for (const StoredSample& s : samples) {
        if (belongs_to_slice(s.record_idx, 2, 3)) mine.push_back(s);
    }
    write_store(other, mine, opts);
    Result<StoreSet> mixed = StoreSet::open({dirs[0], dirs[1], other});
    ASSERT_FALSE(mixed.ok());
    EXPECT_NE(std::string::npos, mixed.status().message().find("parameter 'layer' differs"))
        << mixed.status().message();
    EXPECT_NE(
        std::string::npos,
        merge_stores(fresh_dir("bad_merge"), {dirs[0], dirs[1], other}).message().find("parameter 'layer' differs"));

    // An unfinished slice.
    const std::string unfinished = fresh_dir("bad_set_unfinished");
    opts = options(4);
    opts.slice_idx = 2;
    opts.n_slices = 3;
    { ASSERT_TRUE(StoreWriter::open(unfinished, opts).ok()); }
    Result<StoreSet> incomplete = StoreSet::open({dirs[0], dirs[1], unfinished});
    ASSERT_FALSE(incomplete.ok());
    EXPECT_NE(std::string::npos, incomplete.status().message().find("incomplete")) << incomplete.status().message();

    EXPECT_FALSE(merge_stores(dirs[0], dirs).ok());  // into one of its inputs
}

TEST(StoreSet, EmptySlicesAndEmptyPools) {
    // Two records over three slices: slice 2 is empty.
    const std::vector<StoredSample> samples = random_samples(2, 54);
    const std::vector<std::string> dirs = write_slices("empty_slice", samples, 3, 4);
    Result<StoreSet> set = StoreSet::open(dirs);
    ASSERT_TRUE(set.ok()) << set.status().message();
    expect_same_samples(samples, read_set(*set));

    const std::vector<std::string> empty_dirs = write_slices("empty_pool", {}, 2, 4);
    Result<StoreSet> empty = StoreSet::open(empty_dirs);
    ASSERT_TRUE(empty.ok()) << empty.status().message();
    EXPECT_EQ(0u, empty->size());
    EXPECT_TRUE(read_set(*empty).empty());
    const std::string merged = fresh_dir("empty_pool_merged");
    ASSERT_TRUE(merge_stores(merged, empty_dirs).ok());
    EXPECT_EQ(0u, StoreReader::open(merged)->size());
}

}  // namespace
}  // namespace mona
