// Store value encodings on real data (issue 16): how much of the exact selection each encoding keeps.
//
//   mona_bench_store_fidelity --store EXACT_STORE --target NAME=TARGET_STORE ... [--ratio 0.05] [--work DIR]
//
// EXACT_STORE is a pool embedded with `mona embed --values f32`; each TARGET_STORE is the target's exemplars
// embedded with the same settings (`mona embed --values f32 --pool target.jsonl`), so the target's prototype is
// make_prototype() of its store's vectors: exactly what `mona score` computes when it embeds the exemplars
// itself (the same Embedder, pooling and mean), without a model pass here.
//
// For each encoding the exact store is re-encoded into <work>/<encoding> by StoreWriter with that encoding
// (record by record, same shard_rows and params). The quantisation is a deterministic function of the exact
// float values alone, so this store is byte for byte the one `mona embed --values <encoding>` writes for the same
// pool (the model pass is the same; only the value block differs). Every sample is then scored against every
// prototype with mona::jaccard over the decoded values (as `mona score` does), and compared with the exact
// store's scores: the top-n overlap per target (n = llround(ratio · N), mona's --ratio rule; ties by position as
// score/topn.hpp), the largest |score difference|, and the store's bytes per sample on disk.
// Also reported, simulated in memory only (no store format): fp8 E4M3 with a per-sample f32 scale (max → 448);
// and what the indices cost (varint gaps, against a bitmap of d_sae bits).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pool/pool.hpp"
#include "score/jaccard.hpp"
#include "score/topn.hpp"
#include "store/feature_store.hpp"
#include "store/value_codec.hpp"

namespace {

using namespace mona;

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "mona_bench_store_fidelity: %s\n", what.c_str());
    std::exit(1);
}

std::vector<StoredSample> read_all(const std::string& dir) {
    Result<StoreReader> reader = StoreReader::open(dir);
    if (!reader.ok()) die(reader.status().message());
    std::vector<StoredSample> out;
    Status status = reader->for_each([&](const StoredSample& s) {
        out.push_back(s);
        return Status();
    });
    if (!status.ok()) die(status.message());
    return out;
}

// Every positive finite E4M3 value (bias 7, no infinities, 0x7F is NaN): 1..126 as bit patterns.
std::vector<float> e4m3_values() {
    std::vector<float> values;
    for (int bits = 1; bits < 0x7F; ++bits) {
        const int exponent = bits >> 3;
        const int mantissa = bits & 7;
        values.push_back(exponent == 0 ? std::ldexp(float(mantissa), -9)
                                       : std::ldexp(1.0f + float(mantissa) / 8.0f, exponent - 7));
    }
    return values;
}

// v · scale rounded to the nearest E4M3 value (scale = 448 / max), divided back.
void simulate_e4m3(SparseVec& vec) {
    static const std::vector<float> grid = e4m3_values();
    float hi = 0.0f;
    for (float v : vec.val) hi = std::max(hi, v);
    if (hi <= 0.0f) return;
    const float scale = 448.0f / hi;
    for (float& v : vec.val) {
        const float x = v * scale;
        auto it = std::lower_bound(grid.begin(), grid.end(), x);
        float best = it == grid.end() ? grid.back() : *it;
        if (it != grid.begin() && (it == grid.end() || x - *(it - 1) <= *it - x)) best = *(it - 1);
        if (x < grid.front() / 2) best = 0.0f;
        v = best / scale;
    }
}

struct Row {
    std::string name;
    double bytes_per_sample = 0.0;
    std::vector<double> overlap;  // per target
    double max_diff = 0.0;
};

}  // namespace

int main(int argc, char** argv) {
    std::string store_dir;
    std::string work = "/tmp/mona-store-fidelity." + std::to_string(::getpid());
    double ratio = 0.05;
    std::vector<std::pair<std::string, std::string>> targets;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--store") {
            store_dir = value();
        } else if (arg == "--target") {
            const std::string spec = value();
            const size_t eq = spec.find('=');
            if (eq == std::string::npos) die("--target NAME=STORE_DIR");
            targets.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
        } else if (arg == "--ratio") {
            ratio = std::stod(value());
        } else if (arg == "--work") {
            work = value();
        } else {
            die("usage: --store EXACT_STORE --target NAME=TARGET_STORE ... [--ratio 0.05] [--work DIR]");
        }
    }
    if (store_dir.empty() || targets.empty()) die("--store and at least one --target are required");

    Result<StoreReader> exact_reader = StoreReader::open(store_dir);
    if (!exact_reader.ok()) die(exact_reader.status().message());
    if (exact_reader->values() != ValueEncoding::kF32) die(store_dir + ": not an f32 store");
    const std::vector<StoredSample> exact = read_all(store_dir);
    const size_t n_pool = exact.size();
    if (n_pool == 0) die(store_dir + ": empty store");
    const size_t n_select = std::clamp<size_t>(static_cast<size_t>(std::llround(ratio * double(n_pool))), 1, n_pool);

    // Prototypes, as `mona score` makes them from the targets' pooled vectors.
    int64_t d_sae = 0;
    std::vector<std::vector<SparseVec>> target_vecs;
    for (const auto& [name, dir] : targets) {
        std::vector<SparseVec> vecs;
        for (const StoredSample& s : read_all(dir)) vecs.push_back(s.vec);
        target_vecs.push_back(std::move(vecs));
        for (const SparseVec& v : target_vecs.back()) {
            if (!v.idx.empty()) d_sae = std::max<int64_t>(d_sae, int64_t(v.idx.back()) + 1);
        }
    }
    for (const StoredSample& s : exact) {
        if (!s.vec.idx.empty()) d_sae = std::max<int64_t>(d_sae, int64_t(s.vec.idx.back()) + 1);
    }
    std::vector<Prototype> prototypes;
    for (const auto& vecs : target_vecs) prototypes.push_back(make_prototype(vecs, d_sae));

    auto score_all = [&](const std::vector<StoredSample>& samples) {
        std::vector<std::vector<double>> scores(prototypes.size(), std::vector<double>(samples.size()));
        for (size_t t = 0; t < prototypes.size(); ++t) {
            for (size_t row = 0; row < samples.size(); ++row) scores[t][row] = jaccard(samples[row].vec, prototypes[t]);
        }
        return scores;
    };
    const std::vector<std::vector<double>> exact_scores = score_all(exact);
    std::vector<std::set<uint64_t>> exact_top;
    for (const auto& s : exact_scores) {
        const std::vector<uint64_t> top = top_n(s, n_select);
        exact_top.emplace_back(top.begin(), top.end());
    }
    auto compare = [&](Row& row, const std::vector<StoredSample>& samples) {
        if (samples.size() != n_pool) die(row.name + ": sample count differs");
        const auto scores = score_all(samples);
        for (size_t t = 0; t < scores.size(); ++t) {
            size_t shared = 0;
            for (uint64_t pos : top_n(scores[t], n_select)) shared += exact_top[t].count(pos);
            row.overlap.push_back(double(shared) / double(n_select));
            for (size_t r = 0; r < n_pool; ++r)
                row.max_diff = std::max(row.max_diff, std::fabs(scores[t][r] - exact_scores[t][r]));
        }
    };

    std::vector<Row> rows;
    std::filesystem::create_directories(work);
    for (ValueEncoding e : {ValueEncoding::kF32, ValueEncoding::kBf16, ValueEncoding::kQ8, ValueEncoding::kQ12}) {
        Row row;
        row.name = value_encoding_name(e);
        const std::string dir = work + "/" + row.name;
        std::filesystem::remove_all(dir);
        StoreOptions opts;
        opts.values = e;
        opts.keep = exact_reader->keep();
        opts.shard_rows = exact_reader->shard_rows();
        opts.params_json = exact_reader->params_json();
        Result<StoreWriter> writer = StoreWriter::open(dir, opts);
        if (!writer.ok()) die(writer.status().message());
        for (const StoredSample& s : exact) {
            Status status = writer->append(s);
            if (!status.ok()) die(status.message());
        }
        Status status = writer->commit();
        if (!status.ok()) die(status.message());
        Result<StoreReader> reader = StoreReader::open(dir);
        if (!reader.ok()) die(reader.status().message());
        row.bytes_per_sample = double(reader->bytes_on_disk()) / double(reader->size());
        compare(row, read_all(dir));
        rows.push_back(row);
    }
    {
        Row row;
        row.name = "fp8-e4m3*";
        std::vector<StoredSample> simulated = exact;
        size_t n_values = 0;
        for (StoredSample& s : simulated) {
            simulate_e4m3(s.vec);
            n_values += s.vec.nnz();
        }
        // Same indices and fixed fields as f32, 1 byte per value instead of 4, plus a 4-byte scale per sample.
        row.bytes_per_sample =
            rows[0].bytes_per_sample - (3.0 * double(n_values) - 4.0 * double(n_pool)) / double(n_pool);
        compare(row, simulated);
        rows.push_back(row);
    }

    std::vector<double> spreads;
    for (const StoredSample& s : exact) {
        float lo = 0.0f, hi = 0.0f;
        for (float v : s.vec.val) {
            if (v > 0.0f) lo = lo == 0.0f ? v : std::min(lo, v), hi = std::max(hi, v);
        }
        if (lo > 0.0f) spreads.push_back(std::log10(double(hi) / double(lo)));
    }
    std::sort(spreads.begin(), spreads.end());
    if (!spreads.empty()) {
        std::printf("log10(max/min positive value) per sample: min %.1f, median %.1f, max %.1f\n", spreads.front(),
                    spreads[spreads.size() / 2], spreads.back());
    }
    size_t n_values = 0;
    for (const StoredSample& s : exact) n_values += s.vec.nnz();
    std::printf("pool: %s, %zu samples, mean nnz %.0f, d_sae %lld; top-n = %zu (ratio %g) per target\n\n",
                store_dir.c_str(), n_pool, double(n_values) / double(n_pool), static_cast<long long>(d_sae), n_select,
                ratio);
    std::printf("| values | bytes/sample | min overlap | max abs score diff |");
    for (const auto& [name, dir] : targets) std::printf(" %s |", name.c_str());
    std::printf("\n|---|---|---|---|");
    for (size_t t = 0; t < targets.size(); ++t) std::printf("---|");
    std::printf("\n");
    for (const Row& row : rows) {
        const double min_overlap = *std::min_element(row.overlap.begin(), row.overlap.end());
        std::printf("| %s | %.0f | %.3f | %.2e |", row.name.c_str(), row.bytes_per_sample, min_overlap, row.max_diff);
        for (double o : row.overlap) std::printf(" %.3f |", o);
        std::printf("\n");
    }
    std::printf(
        "\n* simulated in memory (no store format). fp8-e4m3: f32's bytes minus 3 per value plus a 4-byte scale.\n");
    // What the indices cost: the varint gaps as stored, against a bitmap of d_sae bits per sample.
    double gap_bytes = 0.0;
    for (const StoredSample& s : exact) {
        uint64_t prev = 0;
        for (size_t k = 0; k < s.vec.idx.size(); ++k) {
            const uint64_t gap = k == 0 ? s.vec.idx[k] : s.vec.idx[k] - prev - 1;
            prev = s.vec.idx[k];
            gap_bytes += gap < 128 ? 1 : gap < 16384 ? 2 : gap < (1u << 21) ? 3 : 4;
        }
    }
    std::printf("indices: %.0f bytes/sample as varint gaps; a bitmap of d_sae bits would take %lld bytes/sample\n",
                gap_bytes / double(n_pool), static_cast<long long>((d_sae + 7) / 8));
    std::filesystem::remove_all(work);
    return 0;
}
