// Options beyond the paper (docs/beyond.md) end to end on the tiny fixture model: --diversity 0 is the paper's
// selection byte for byte, --diversity LAMBDA picks what a plain recomputation from the store's vectors and the
// written scores picks, select and score agree, and mpirun ranks give one process's outputs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "score/dedup.hpp"
#include "score/jaccard.hpp"
#include "store/feature_store.hpp"
#include "text/formats.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

struct Out {
    int code = -1;
    std::string err;
};

std::string quote(const std::string& arg) { return fixtures::shell_quote(arg); }

std::vector<std::vector<std::string>> tsv_rows(const std::string& path) {
    std::vector<std::vector<std::string>> rows;
    std::stringstream in(fixtures::read_file(path));
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> fields;
        std::stringstream ls(line);
        for (std::string f; std::getline(ls, f, '\t');) fields.push_back(f);
        rows.push_back(fields);
    }
    return rows;
}

// Every output file equal, manifest.json up to its command line and timings.
void expect_same_outputs(const std::string& want_dir, const std::string& got_dir, bool same_manifest_params = true) {
    std::vector<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(want_dir)) {
        if (entry.is_regular_file()) names.push_back(fs::relative(entry.path(), want_dir).string());
    }
    std::sort(names.begin(), names.end());
    ASSERT_GE(names.size(), 4u);
    for (const auto& name : names) {
        const std::string want = fixtures::read_file(want_dir + "/" + name);
        const std::string got = fixtures::read_file(got_dir + "/" + name);
        if (name != "manifest.json") {
            EXPECT_EQ(want, got) << name;
            continue;
        }
        if (!same_manifest_params) continue;
        nlohmann::json want_json = nlohmann::json::parse(want), got_json = nlohmann::json::parse(got);
        for (auto* json : {&want_json, &got_json}) {
            json->erase("timings_s");
            json->erase("command_line");
        }
        EXPECT_EQ(want_json, got_json);
    }
}

class BeyondE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        for (const char* var : {"MONA_MODEL", "MONA_SAE", "MONA_KEEP", "MONA_SHARD", "MONA_SHARD_ROWS"})
            ::unsetenv(var);
        dir_ = fixtures::make_temp_dir("mona-beyond-e2e");
        model_ = dir_ + "/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 3;
        ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model_, spec).ok());
        auto sae = fixtures::write_tiny_sparsify_sae(dir_ + "/sae", 64, 256, 8, 7, "layers.1");
        ASSERT_TRUE(sae.ok()) << sae.status().message();
        sae_dir_ = sae->folder;
        pool_ = dir_ + "/pool.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(pool_, fixtures::make_labelled_pool(10)).ok());
        math_ = dir_ + "/target_math.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(math_, fixtures::make_target_exemplars("math", 5)).ok());
        code_ = dir_ + "/target_code.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(code_, fixtures::make_target_exemplars("code", 5)).ok());
        store_ = dir_ + "/store";
        // f32 stores: `mona select` keeps exact values, and the tests compare score's outputs with select's.
        Out embed = mona("embed --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool_) +
                         " --values f32 --shard-rows 3 --out " + quote(store_));
        ASSERT_EQ(0, embed.code) << embed.err;
        // A pool with duplicates: the labelled pool, then math samples again, in other case and spacing (exact
        // duplicates after normalisation), and one math sample with a word added (a near duplicate).
        auto samples = fixtures::make_labelled_pool(10);
        std::vector<fixtures::LabelledSample> dups;
        int n_math = 0;
        for (const auto& sample : samples) {
            if (sample.task != "math" || n_math++ >= 4) continue;
            fixtures::LabelledSample copy = sample;
            copy.id += "-copy";
            for (char& ch : copy.user) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            copy.assistant = "  " + copy.assistant + "\n";
            dups.push_back(copy);
            reference_.push_back(sample);
        }
        fixtures::LabelledSample near = dups.back();
        near.id += "-near";
        near.assistant += " indeed";
        dups.push_back(near);
        samples.insert(samples.end(), dups.begin(), dups.end());
        dup_pool_ = dir_ + "/dup_pool.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(dup_pool_, samples).ok());
        dup_store_ = dir_ + "/dup_store";
        Out dup_embed = mona("embed --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " +
                             quote(dup_pool_) + " --values f32 --out " + quote(dup_store_));
        ASSERT_EQ(0, dup_embed.code) << dup_embed.err;
        reference_path_ = dir_ + "/reference.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(reference_path_, reference_).ok());
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    static Out mona(const std::string& args) {
        const std::string err = dir_ + "/stderr.txt";
        const std::string cmd = "OMP_WAIT_POLICY=passive " + quote(MONA_BIN) + " " + args +
                                " --quiet --threads 1 >/dev/null 2>" + quote(err);
        const int status = std::system(cmd.c_str());
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, fixtures::read_file(err)};
    }
    static std::string score_args(const std::string& out, const std::string& flags) {
        return "score --store " + quote(store_) + " --target math=" + quote(math_) + " --target code=" + quote(code_) +
               " --count 6 " + flags + " --out " + quote(out);
    }

    static inline std::string dir_, model_, sae_dir_, pool_, math_, code_, store_, dup_pool_, dup_store_,
        reference_path_;
    static inline std::vector<fixtures::LabelledSample> reference_;
};

TEST_F(BeyondE2eTest, DiversityZeroIsThePapersSelection) {
    ASSERT_EQ(0, mona(score_args(dir_ + "/plain", "--merge round-robin")).code);
    Out zero = mona(score_args(dir_ + "/zero", "--merge round-robin --diversity 0 --diversity-candidates 2"));
    ASSERT_EQ(0, zero.code) << zero.err;
    expect_same_outputs(dir_ + "/plain", dir_ + "/zero");
    const auto manifest = nlohmann::json::parse(fixtures::read_file(dir_ + "/zero/manifest.json"));
    EXPECT_FALSE(manifest["parameters"].contains("diversity"));
    EXPECT_FALSE(fs::exists(dir_ + "/zero/dropped.tsv"));
    // --coverage reads the selected vectors back for manifest.json, and selects the same samples.
    Out covered = mona(score_args(dir_ + "/covered", "--merge round-robin --coverage"));
    ASSERT_EQ(0, covered.code) << covered.err;
    for (const char* file : {"math/selected.jsonl", "math/scores.tsv", "code/scores.tsv", "merged/selected.tsv"}) {
        EXPECT_EQ(fixtures::read_file(dir_ + "/plain/" + file), fixtures::read_file(dir_ + "/covered/" + file)) << file;
    }
    const auto with_coverage = nlohmann::json::parse(fixtures::read_file(dir_ + "/covered/manifest.json"));
    for (const auto& target : with_coverage["targets"]) {
        const double mass = target["selection"]["coverage_mass"].get<double>();
        const double latents = target["selection"]["coverage_latents"].get<double>();
        EXPECT_GT(mass, 0.0);
        EXPECT_LE(mass, 1.0);
        EXPECT_GT(latents, 0.0);
        EXPECT_LE(latents, 1.0);
        EXPECT_GE(target["selection"]["mean_pairwise_jaccard"].get<double>(), 0.0);
        // Coverage against n: n = 1..N (N <= 64 here), non-decreasing, ending at the whole selection's coverage.
        const auto& curve = target["selection"]["coverage_curve"];
        const size_t n_selected = curve["n"].size();
        ASSERT_GT(n_selected, 0u);
        ASSERT_EQ(n_selected, curve["mass"].size());
        for (size_t i = 0; i < n_selected; ++i) {
            EXPECT_EQ(i + 1, curve["n"][i].get<size_t>());
            if (i > 0) {
                EXPECT_GE(curve["mass"][i].get<double>(), curve["mass"][i - 1].get<double>());
                EXPECT_GE(curve["latents"][i].get<double>(), curve["latents"][i - 1].get<double>());
            }
        }
        EXPECT_NEAR(mass, curve["mass"].back().get<double>(), 1e-12);
        EXPECT_DOUBLE_EQ(latents, curve["latents"].back().get<double>());
    }
    const std::string report = fixtures::read_file(dir_ + "/covered/report.html");
    EXPECT_NE(report.find("id=\"target-0-coverage\""), std::string::npos);
    EXPECT_EQ(fixtures::read_file(dir_ + "/plain/report.html").find("-coverage\""), std::string::npos);
}

// The MMR rule of score/diversity.hpp recomputed plainly from the written scores.tsv (its rank column gives the
// candidates, its score column the scores) and the store's vectors.
TEST_F(BeyondE2eTest, DiversityPicksWhatAPlainRecomputationPicks) {
    const double lambda = 0.6;
    const size_t n = 6, c = 3;
    const std::string out = dir_ + "/diverse";
    Out run = mona(score_args(out, "--diversity 0.6 --diversity-candidates 3"));
    ASSERT_EQ(0, run.code) << run.err;
    auto stores = StoreSet::open({store_});
    ASSERT_TRUE(stores.ok());
    std::map<uint64_t, SparseVec> vecs;
    ASSERT_TRUE(stores
                    ->for_each([&](const StoredSample& s) {
                        vecs[s.record_idx] = s.vec;
                        return Status();
                    })
                    .ok());
    int n_reordered = 0;
    for (const std::string target : {"math", "code"}) {
        const auto rows = tsv_rows(out + "/" + target + "/scores.tsv");
        ASSERT_EQ("rank", rows[0][7]);
        std::vector<std::pair<uint64_t, std::pair<uint64_t, double>>> by_rank;  // rank -> (record, score)
        std::vector<uint64_t> flagged;
        for (size_t row_idx = 1; row_idx < rows.size(); ++row_idx) {
            const auto& row = rows[row_idx];
            by_rank.push_back({std::stoull(row[7]), {std::stoull(row[0]), std::stod(row[6])}});
            if (row[8] == "1") flagged.push_back(std::stoull(row[0]));
        }
        std::sort(by_rank.begin(), by_rank.end());
        by_rank.resize(n * c);
        std::vector<size_t> picks;
        std::vector<bool> taken(by_rank.size(), false);
        while (picks.size() < n) {
            size_t best = by_rank.size();
            double best_value = 0.0;
            for (size_t cand = 0; cand < by_rank.size(); ++cand) {
                if (taken[cand]) continue;
                double max_sim = 0.0;
                for (size_t pick : picks) {
                    max_sim =
                        std::max(max_sim, jaccard(vecs[by_rank[cand].second.first], vecs[by_rank[pick].second.first]));
                }
                const double value = by_rank[cand].second.second - lambda * max_sim;
                if (best == by_rank.size() || value > best_value) best = cand, best_value = value;
            }
            taken[best] = true;
            picks.push_back(best);
        }
        // selected.jsonl holds the picks in pick order: compare by the records' ids.
        std::vector<std::string> want_ids, got_ids;
        std::map<uint64_t, std::string> id_of;
        for (size_t row_idx = 1; row_idx < rows.size(); ++row_idx)
            id_of[std::stoull(rows[row_idx][0])] = rows[row_idx][1];
        for (size_t pick : picks) want_ids.push_back(id_of[by_rank[pick].second.first]);
        std::stringstream lines(fixtures::read_file(out + "/" + target + "/selected.jsonl"));
        for (std::string line; std::getline(lines, line);) got_ids.push_back(nlohmann::json::parse(line)["id"]);
        EXPECT_EQ(want_ids, got_ids) << target;
        std::vector<uint64_t> want_flagged;
        for (size_t pick : picks) want_flagged.push_back(by_rank[pick].second.first);
        std::sort(want_flagged.begin(), want_flagged.end());
        EXPECT_EQ(want_flagged, flagged) << target << ": the selected column of scores.tsv";
        for (size_t place = 0; place < picks.size(); ++place) n_reordered += picks[place] != place;
    }
    EXPECT_GT(n_reordered, 0) << "LAMBDA " << lambda << " changed nothing on this fixture: the test tests nothing";
    const auto manifest = nlohmann::json::parse(fixtures::read_file(out + "/manifest.json"));
    EXPECT_EQ(lambda, manifest["parameters"]["diversity"]["lambda"].get<double>());
    EXPECT_EQ(2 * n * c, manifest["parameters"]["diversity"]["candidates"].get<size_t>());
}

// The drop rule of score/dedup.hpp walked plainly over the rank order of the written scores.tsv (top c*n), with the
// store's vectors and each record's normalised text; compared with selected.jsonl and dropped.tsv.
TEST_F(BeyondE2eTest, DedupKeepsWhatAPlainWalkKeeps) {
    const double threshold = 0.9;
    const size_t n = 8, c = 4;
    for (const bool against : {false, true}) {
        const std::string out = dir_ + (against ? "/dedup-against" : "/dedup");
        std::string args = "score --store " + quote(dup_store_) + " --target math=" + quote(math_) +
                           " --count 8 --merge round-robin --target code=" + quote(code_) + " --dedup 0.9";
        if (against) args += " --dedup-against " + quote(reference_path_);
        Out run = mona(args + " --out " + quote(out));
        ASSERT_EQ(0, run.code) << run.err;
        auto stores = StoreSet::open({dup_store_});
        ASSERT_TRUE(stores.ok());
        std::map<uint64_t, SparseVec> vecs;
        ASSERT_TRUE(stores
                        ->for_each([&](const StoredSample& s) {
                            vecs[s.record_idx] = s.vec;
                            return Status();
                        })
                        .ok());
        std::vector<std::string> pool_lines;
        {
            std::stringstream in(fixtures::read_file(dup_pool_));
            for (std::string line; std::getline(in, line);) pool_lines.push_back(line);
        }
        const auto text_of = [&](const std::string& line) {
            auto sample = parse_sample(line, InputFormat::kAuto, {"pool", 1, 0});
            EXPECT_TRUE(sample.ok());
            return normalize_for_dedup(sample.value());
        };
        std::vector<std::string> ref_texts;
        if (against) {
            std::stringstream in(fixtures::read_file(reference_path_));
            for (std::string line; std::getline(in, line);) ref_texts.push_back(text_of(line));
        }
        std::vector<std::vector<std::string>> want_dropped;
        for (const std::string target : {"math", "code"}) {
            const auto rows = tsv_rows(out + "/" + target + "/scores.tsv");
            std::vector<std::pair<uint64_t, uint64_t>> by_rank;  // rank -> record
            for (size_t row_idx = 1; row_idx < rows.size(); ++row_idx) {
                by_rank.push_back({std::stoull(rows[row_idx][7]), std::stoull(rows[row_idx][0])});
            }
            std::sort(by_rank.begin(), by_rank.end());
            std::vector<uint64_t> kept;
            for (size_t place = 0; place < n * c && kept.size() < n; ++place) {
                const uint64_t record = by_rank[place].second;
                const std::string text = text_of(pool_lines[record]);
                std::string reason;
                for (uint64_t k : kept) {
                    if (reason.empty() && text_of(pool_lines[k]) == text) reason = "exact";
                }
                for (uint64_t k : kept) {
                    if (reason.empty() && jaccard(vecs[record], vecs[k]) >= threshold) reason = "near";
                }
                for (const auto& ref : ref_texts) {
                    if (reason.empty() && ref == text) reason = "exact-reference";
                }
                if (reason.empty()) {
                    kept.push_back(record);
                } else {
                    want_dropped.push_back({target, std::to_string(record), reason});
                }
            }
            std::vector<std::string> want_lines, got_lines;
            for (uint64_t k : kept) want_lines.push_back(pool_lines[k]);
            std::stringstream lines(fixtures::read_file(out + "/" + target + "/selected.jsonl"));
            for (std::string line; std::getline(lines, line);) got_lines.push_back(line);
            EXPECT_EQ(want_lines, got_lines) << target;
        }
        std::vector<std::vector<std::string>> got_dropped;
        const auto dropped = tsv_rows(out + "/dropped.tsv");
        ASSERT_FALSE(dropped.empty());
        EXPECT_EQ("reason", dropped[0][4]);
        for (size_t row_idx = 1; row_idx < dropped.size(); ++row_idx) {
            if (dropped[row_idx][0] == "merged") continue;
            got_dropped.push_back({dropped[row_idx][0], dropped[row_idx][1], dropped[row_idx][4]});
        }
        EXPECT_EQ(want_dropped, got_dropped);
        int n_exact = 0, n_reference = 0;
        for (const auto& d : want_dropped) n_exact += d[2] == "exact", n_reference += d[2] == "exact-reference";
        // (With the reference holding the originals, their copies are dropped as reference duplicates first.)
        if (!against) {
            EXPECT_GT(n_exact, 0) << "the fixture's copies were not met: the test tests nothing";
        }
        if (against) {
            EXPECT_GT(n_reference, 0) << "the reference sample was not met";
        } else {
            EXPECT_EQ(0, n_reference);
        }
        // No two samples of the merged subset share a normalised text.
        std::set<std::string> merged_texts;
        std::stringstream merged(fixtures::read_file(out + "/merged/selected.jsonl"));
        for (std::string line; std::getline(merged, line);) EXPECT_TRUE(merged_texts.insert(text_of(line)).second);
        const auto manifest = nlohmann::json::parse(fixtures::read_file(out + "/manifest.json"));
        EXPECT_EQ(threshold, manifest["parameters"]["dedup"]["threshold"].get<double>());
        EXPECT_EQ(against, !manifest["parameters"]["dedup"]["against"].is_null());
    }
}

// --prototype contrast:BETA against a plain reference: the targets embedded into their own f32 store with the same
// settings (the vectors score computes for them), the mean prototype, the pool's mean vector and the contrast
// written out densely, Jaccard by its definition; the written scores and the top n must follow.
TEST_F(BeyondE2eTest, ContrastPrototypeScoresWhatAPlainRecomputationScores) {
    const double beta = 1.0;
    const std::string out = dir_ + "/contrast";
    Out run = mona(score_args(out, "--prototype contrast:1"));
    ASSERT_EQ(0, run.code) << run.err;
    Out plain_run = mona(score_args(dir_ + "/contrast-plain", "--prototype mean"));
    ASSERT_EQ(0, plain_run.code) << plain_run.err;
    auto read_store = [](const std::string& dir) {
        std::vector<StoredSample> samples;
        auto stores = StoreSet::open({dir});
        EXPECT_TRUE(stores.ok()) << stores.status().message();
        if (!stores.ok()) return samples;
        EXPECT_TRUE(stores
                        ->for_each([&](const StoredSample& s) {
                            samples.push_back(s);
                            return Status();
                        })
                        .ok());
        return samples;
    };
    auto dense = [](const SparseVec& v) {
        std::vector<double> d(256, 0.0);
        for (size_t e = 0; e < v.idx.size(); ++e) d[v.idx[e]] = v.val[e];
        return d;
    };
    const std::vector<StoredSample> pool = read_store(store_);
    ASSERT_FALSE(pool.empty());
    std::vector<double> pool_sum(256, 0.0);
    for (const auto& s : pool) {
        const auto d = dense(s.vec);
        for (size_t k = 0; k < 256; ++k) pool_sum[k] += d[k];
    }
    size_t n_changed = 0;
    for (const auto& [name, path] :
         std::vector<std::pair<std::string, std::string>>{{"math", math_}, {"code", code_}}) {
        const std::string tstore = dir_ + "/target-store-" + name;
        Out embed = mona("embed --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(path) +
                         " --values f32 --out " + quote(tstore));
        ASSERT_EQ(0, embed.code) << embed.err;
        const std::vector<StoredSample> exemplars = read_store(tstore);
        std::vector<double> sum(256, 0.0);
        for (const auto& s : exemplars) {
            const auto d = dense(s.vec);
            for (size_t k = 0; k < 256; ++k) sum[k] += d[k];
        }
        std::vector<float> contrast(256);
        for (size_t k = 0; k < 256; ++k) {
            const auto p = static_cast<float>(sum[k] / static_cast<double>(exemplars.size()));
            const auto m = static_cast<float>(pool_sum[k] / static_cast<double>(pool.size()));
            contrast[k] = std::max(0.0f, p - static_cast<float>(beta) * m);
        }
        const auto rows = tsv_rows(out + "/" + name + "/scores.tsv");
        const auto plain = tsv_rows(dir_ + "/contrast-plain/" + name + "/scores.tsv");
        ASSERT_EQ(rows.size(), pool.size() + 1);
        std::vector<double> want;
        for (const auto& s : pool) {
            const auto d = dense(s.vec);
            double num = 0.0, den = 0.0;
            for (size_t k = 0; k < 256; ++k) {
                num += std::min<double>(d[k], contrast[k]);
                den += std::max<double>(d[k], contrast[k]);
            }
            want.push_back(den > 0 ? num / den : 0.0);
        }
        for (size_t row_idx = 1; row_idx < rows.size(); ++row_idx) {
            ASSERT_EQ(std::to_string(pool[row_idx - 1].record_idx), rows[row_idx][0]);
            EXPECT_NEAR(want[row_idx - 1], std::stod(rows[row_idx][6]), 1e-7) << name << " row " << row_idx;
            ASSERT_EQ(plain.size(), rows.size());
            n_changed += std::fabs(std::stod(plain[row_idx][6]) - std::stod(rows[row_idx][6])) > 1e-6;
        }
    }
    EXPECT_GT(n_changed, 0u) << "the contrast prototype scored like the mean one: the test tests nothing";
    const auto manifest = nlohmann::json::parse(fixtures::read_file(out + "/manifest.json"));
    EXPECT_EQ("contrast", manifest["parameters"]["prototype"]["rule"].get<std::string>());
    EXPECT_EQ(beta, manifest["parameters"]["prototype"]["beta"].get<double>());
    const auto plain_manifest = nlohmann::json::parse(fixtures::read_file(dir_ + "/contrast-plain/manifest.json"));
    EXPECT_FALSE(plain_manifest["parameters"].contains("prototype")) << "the paper's runs record no prototype";
    // select scores from its own store exactly as score does.
    const std::string flags = "--target math=" + quote(math_) + " --count 5 --prototype contrast:1";
    Out select = mona("select --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool_) +
                      " " + flags + " --out " + quote(dir_ + "/select-contrast"));
    ASSERT_EQ(0, select.code) << select.err;
    Out score = mona("score --store " + quote(store_) + " " + flags + " --out " + quote(dir_ + "/score-contrast"));
    ASSERT_EQ(0, score.code) << score.err;
    for (const char* file : {"math/selected.jsonl", "math/scores.tsv"}) {
        EXPECT_EQ(fixtures::read_file(dir_ + "/select-contrast/" + file),
                  fixtures::read_file(dir_ + "/score-contrast/" + file))
            << file;
    }
    Out bad = mona(score_args(dir_ + "/bad-prototype", "--prototype contrast:0"));
    EXPECT_EQ(2, bad.code);
    EXPECT_NE(bad.err.find("expected mean or contrast:BETA"), std::string::npos) << bad.err;
}

// --length-strata B: the written scores are the plain run's scores standardised within B strata of token count
// (sorted by tokens, then record), recomputed here from the plain run's scores.tsv; the selection follows them.
TEST_F(BeyondE2eTest, LengthStrataStandardiseWithinLengthBands) {
    const uint32_t b = 3;
    Out plain_run = mona(score_args(dir_ + "/strata-plain", ""));
    ASSERT_EQ(0, plain_run.code) << plain_run.err;
    Out run = mona(score_args(dir_ + "/strata", "--length-strata 3"));
    ASSERT_EQ(0, run.code) << run.err;
    for (const std::string target : {"math", "code"}) {
        const auto plain = tsv_rows(dir_ + "/strata-plain/" + target + "/scores.tsv");
        const auto got = tsv_rows(dir_ + "/strata/" + target + "/scores.tsv");
        ASSERT_EQ(plain.size(), got.size());
        const size_t n = plain.size() - 1;
        std::vector<std::pair<long long, size_t>> by_length;  // (tokens, row): ties by row = record order
        for (size_t i = 0; i < n; ++i) by_length.push_back({std::stoll(plain[i + 1][4]), i});
        std::sort(by_length.begin(), by_length.end());
        std::vector<double> want(n);
        size_t n_negative = 0;
        for (size_t g = 0; g < b; ++g) {
            double mean = 0, var = 0;
            const size_t lo = g * n / b, hi = (g + 1) * n / b;
            for (size_t p = lo; p < hi; ++p) mean += std::stod(plain[by_length[p].second + 1][6]) / (hi - lo);
            for (size_t p = lo; p < hi; ++p) {
                const double d = std::stod(plain[by_length[p].second + 1][6]) - mean;
                var += d * d / (hi - lo);
            }
            for (size_t p = lo; p < hi; ++p) {
                const double s = std::stod(plain[by_length[p].second + 1][6]);
                want[by_length[p].second] = var > 0 ? (s - mean) / std::sqrt(var) : 0.0;
            }
        }
        for (size_t i = 0; i < n; ++i) {
            EXPECT_NEAR(want[i], std::stod(got[i + 1][6]), 1e-5) << target << " row " << i;
            n_negative += want[i] < 0;
        }
        EXPECT_GT(n_negative, 0u) << "standard scores have negatives: the run must have changed the scores";
        // rank follows the standardised scores.
        for (size_t i = 0; i < n; ++i) {
            for (size_t j = 0; j < n; ++j) {
                if (want[i] > want[j] + 1e-5) {
                    EXPECT_LT(std::stoi(got[i + 1][7]), std::stoi(got[j + 1][7])) << target << " " << i << " " << j;
                }
            }
        }
    }
    const auto manifest = nlohmann::json::parse(fixtures::read_file(dir_ + "/strata/manifest.json"));
    EXPECT_EQ(b, manifest["parameters"]["length_strata"].get<uint32_t>());
}

TEST_F(BeyondE2eTest, SelectWithDiversityEqualsScoreWithDiversity) {
    const std::string flags = "--target math=" + quote(math_) + " --count 5 --diversity 0.4";
    Out select = mona("select --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool_) +
                      " " + flags + " --out " + quote(dir_ + "/select-div"));
    ASSERT_EQ(0, select.code) << select.err;
    Out score = mona("score --store " + quote(store_) + " " + flags + " --out " + quote(dir_ + "/score-div"));
    ASSERT_EQ(0, score.code) << score.err;
    for (const char* file : {"math/selected.jsonl", "math/scores.tsv"}) {
        EXPECT_EQ(fixtures::read_file(dir_ + "/select-div/" + file), fixtures::read_file(dir_ + "/score-div/" + file))
            << file;
    }
}

TEST_F(BeyondE2eTest, BadDiversityOrDedupIsAUsageError) {
    Out negative = mona(score_args(dir_ + "/bad", "--diversity -1"));
    EXPECT_EQ(2, negative.code);
    EXPECT_NE(negative.err.find("--diversity"), std::string::npos) << negative.err;
    Out zero_c = mona(score_args(dir_ + "/bad", "--diversity 1 --diversity-candidates 0"));
    EXPECT_EQ(2, zero_c.code);
    Out big_t = mona(score_args(dir_ + "/bad", "--dedup 1.5"));
    EXPECT_EQ(2, big_t.code);
    EXPECT_NE(big_t.err.find("--dedup"), std::string::npos) << big_t.err;
    Out no_t = mona(score_args(dir_ + "/bad", "--dedup-against " + quote(math_)));
    EXPECT_EQ(2, no_t.code);
    EXPECT_NE(no_t.err.find("needs --dedup"), std::string::npos) << no_t.err;
    EXPECT_FALSE(fs::exists(dir_ + "/bad/math"));
}

TEST_F(BeyondE2eTest, MpirunRanksSelectDiverselyLikeOneProcess) {
    if (!MONA_TEST_HAVE_MPI) GTEST_SKIP() << "this build has no MPI (CMake MONA_MPI=OFF or no MPI found)";
    const std::string mpiexec = MONA_MPIEXEC;
    ASSERT_FALSE(mpiexec.empty() || mpiexec.find("NOTFOUND") != std::string::npos);
    // --prototype contrast: rank 0 alone reads the pool mean, so the prototypes and the outputs are one process's.
    const std::string flags = "--merge round-robin --diversity 0.5 --prototype contrast:1.5";
    ASSERT_EQ(0, mona(score_args(dir_ + "/mpi-1", flags)).code);
    const std::string err = dir_ + "/mpirun-stderr.txt";
    const std::string cmd =
        "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0\" "
        "OMP_WAIT_POLICY=passive OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
        "OMPI_MCA_btl_vader_single_copy_mechanism=none " +
        quote(mpiexec) + " --oversubscribe -n 3 " + quote(MONA_BIN) + " " + score_args(dir_ + "/mpi-3", flags) +
        " --quiet --threads 1 >/dev/null 2>" + quote(err);
    const int status = std::system(cmd.c_str());
    ASSERT_EQ(0, WIFEXITED(status) ? WEXITSTATUS(status) : -1) << fixtures::read_file(err);
    expect_same_outputs(dir_ + "/mpi-1", dir_ + "/mpi-3");
}

}  // namespace
}  // namespace mona
