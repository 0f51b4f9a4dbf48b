// The feature store at pool scale (issue 5, "Measure"): build a synthetic store of N pooled sample vectors with
// StoreWriter, report its bytes/sample and write throughput, score it in ONE streaming pass (StoreReader::for_each)
// against 1 and 10 dense prototypes with a per-target TopNHeap(n = 5 % of N), report samples/s and the pass's peak
// memory, and compare the O(nnz) scoring against a straightforward dense Σmin/Σmax reference in the same run.
//
// A plain program, not a Google Benchmark: the phases depend on each other (write, then score what was written)
// and one run prints one table (bench/README.md, "mona_bench_store"). Flags: --help.
//
// Synthetic data (fixed seed; every sample is a function of (seed, record index) alone, so the first N0 samples
// of the keep=0 store are the same vectors as the first N0 of the keep=64 store):
//   * Latent popularity is Zipf-like: latent with popularity rank r is drawn with weight 1/(r+1)^s (s = --zipf,
//     default 1), ranks assigned to latent indices by a random permutation (popular latents are spread over the
//     index range, as in a trained SAE). Draws use an alias table, O(1) each.
//   * A sample is mean pooling simulated directly: "token activations" are drawn, each picks a latent (with
//     probability --topic-weight from the sample's topic, a fixed random set of --topic-size latents out of
//     --topics, otherwise from the global Zipf popularity) and adds a lognormal(0, 1) magnitude to it, until
//     the sample has its target number of distinct latents (uniform in [--nnz-min, --nnz-max], default
//     800..2500). n_tokens = draws / --k-per-token; each value is the latent's summed magnitude / n_tokens. So
//     values are positive with a heavy tail (common latents fire often and pool to large values), and the
//     stored l1 is the exact Σ of the values (in double, index order).
//   * Target t's prototype is make_prototype() of --exemplars samples of topic t, drawn the same way.
//
// Measurements:
//   1. Store: two stores under --dir (default /tmp/mona-store-bench.<pid>, removed at the end): N samples at
//      --keep (default 1,000,000 at keep 64: ~0.41 GB) and --n-full samples at keep 0 (default 100,000:
//      ~0.86 GB; the keep-0 store of 1M samples would be ~8.6 GB). Generation and StoreWriter::append/commit are timed
//      separately (samples are generated in batches, then appended), in wall and process CPU time.
//   2./3./4. Scoring: each pass runs in a fresh child process (this program re-executed with --child-score), so
//      its peak RSS is the pass's own: the child builds its prototypes, resets its high-water mark
//      (/proc/self/clear_refs "5"), reads VmRSS, then opens the store, streams it once pushing every sample's
//      score into one TopNHeap per target, reads the selections (sorted()), and reports wall/CPU time, VmRSS
//      before and VmHWM after. --reps passes each (default 3), medians reported; every pass must return the same
//      selections (hash of positions).
//   5. Dense reference: the first --subset samples (default 20,000) of each store are loaded into memory;
//      target 0 scores them with mona::jaccard (O(nnz)) and with a plain dense loop (scatter into a dense
//      float[d_sae], Σmin and Σmax over all d_sae in double, clear), both feeding a TopNHeap(5 %). For keep=0
//      the dense score is Σmin/Σmax, the definition (checked bit for bit against tests/reference's
//      jaccard_dense on the first samples). For keep=64 the stored vector is truncated but its l1 is the full
//      norm, and mona::jaccard deliberately computes m' / (l1 + ‖p‖₁ − m') (score/jaccard.hpp); the like-with-like
//      dense figure is Σmin / (Σmax + (l1 − Σ stored values)), i.e. the dense formula over the stored entries with
//      the dropped mass added back to the denominator. Both pairs must give the same top-n; the largest score
//      difference is reported. (Also reported: the top-n overlap with the plain Σmin/Σmax of the truncated
//      vector, which scores a different quantity.)
//   Extra (synthetic, informational): top-5 % overlap of keep=64 vs keep=0 scoring over the first N0 samples.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pool/pool.hpp"
#include "reference/score_reference.hpp"
#include "score/jaccard.hpp"
#include "score/store_scan.hpp"
#include "score/topn.hpp"
#include "store/feature_store.hpp"

namespace {

// ---- configuration --------------------------------------------------------------------------------------------

struct Config {
    uint64_t n = 1'000'000;     // samples in the main store
    uint32_t keep = 64;         // keep of the main store
    uint64_t n_full = 100'000;  // samples in the keep=0 store (0 = skip it)
    int64_t d_sae = 131072;
    uint32_t nnz_min = 800;
    uint32_t nnz_max = 2500;
    double zipf = 1.0;
    uint32_t topics = 64;
    double topic_weight = 0.25;
    uint32_t topic_size = 2048;
    uint32_t k_per_token = 192;
    uint32_t exemplars = 64;
    uint32_t targets = 10;     // the multi-target passes use this many targets (the single-target ones 1)
    uint64_t subset = 20'000;  // samples compared against the dense reference
    double top_frac = 0.05;
    int reps = 3;
    uint64_t seed = 20251126;
    std::string dir;  // default /tmp/mona-store-bench.<pid>
    bool keep_files = false;
    std::string values = "f32";  // value encoding of both stores (issue 16)
    int fast_threads = 2;        // threads of the fast pass (score_units); 0 = skip the fast passes
    // child mode (internal)
    std::string child_store;
    uint32_t child_targets = 0;
    uint64_t child_top = 0;
    int child_threads = 0;  // 0: today's pass (for_each + jaccard per target); N: score_units on N threads
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "store_bench: %s\n", what.c_str());
    std::exit(1);
}

void check(const mona::Status& status, const char* what) {
    if (!status.ok()) die(std::string(what) + ": " + status.message());
}

void usage() {
    std::printf(
        "usage: mona_bench_store [--n N] [--keep M] [--n-full N0] [--d-sae D] [--nnz-min A] [--nnz-max B]\n"
        "       [--zipf S] [--topics T] [--topic-weight W] [--topic-size K] [--k-per-token K] [--exemplars E]\n"
        "       [--targets T] [--subset S] [--top-frac F] [--reps R] [--seed X] [--dir DIR] [--keep-files]\n"
        "       [--values f32|bf16|q8] [--fast-threads N]\n"
        "defaults: --n 1000000 --keep 64 --n-full 100000 --d-sae 131072 --nnz-min 800 --nnz-max 2500 --zipf 1\n"
        "          --topics 64 --topic-weight 0.25 --topic-size 2048 --k-per-token 192 --exemplars 64\n"
        "          --targets 10 --subset 20000 --top-frac 0.05 --reps 3 --dir /tmp/mona-store-bench.<pid>\n"
        "          --values f32 --fast-threads 2\n");
}

Config parse_args(const std::vector<std::string>& args) {
    Config c;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& flag = args[i];
        if (flag == "--help" || flag == "-h") {
            usage();
            std::exit(0);
        }
        if (flag == "--keep-files") {
            c.keep_files = true;
            continue;
        }
        if (i + 1 >= args.size()) die("flag " + flag + " needs a value (--help)");
        const std::string& v = args[++i];
        auto u64 = [&] { return static_cast<uint64_t>(std::stoull(v)); };
        auto u32 = [&] { return static_cast<uint32_t>(std::stoul(v)); };
        // clang-format off
        if (flag == "--n") c.n = u64();
        else if (flag == "--keep") c.keep = u32();
        else if (flag == "--n-full") c.n_full = u64();
        else if (flag == "--d-sae") c.d_sae = static_cast<int64_t>(u64());
        else if (flag == "--nnz-min") c.nnz_min = u32();
        else if (flag == "--nnz-max") c.nnz_max = u32();
        else if (flag == "--zipf") c.zipf = std::stod(v);
        else if (flag == "--topics") c.topics = u32();
        else if (flag == "--topic-weight") c.topic_weight = std::stod(v);
        else if (flag == "--topic-size") c.topic_size = u32();
        else if (flag == "--k-per-token") c.k_per_token = u32();
        else if (flag == "--exemplars") c.exemplars = u32();
        else if (flag == "--targets") c.targets = u32();
        else if (flag == "--subset") c.subset = u64();
        else if (flag == "--top-frac") c.top_frac = std::stod(v);
        else if (flag == "--reps") c.reps = static_cast<int>(u32());
        else if (flag == "--seed") c.seed = u64();
        else if (flag == "--dir") c.dir = v;
        else if (flag == "--child-score") c.child_store = v;
        else if (flag == "--child-targets") c.child_targets = u32();
        else if (flag == "--child-top") c.child_top = u64();
        else if (flag == "--child-threads") c.child_threads = static_cast<int>(u32());
        else if (flag == "--values") c.values = v;
        else if (flag == "--fast-threads") c.fast_threads = static_cast<int>(u32());
        else die("unknown flag " + flag + " (--help)");
        // clang-format on
    }
    if (c.d_sae < 64 || c.d_sae > (int64_t{1} << 32)) die("--d-sae must be in [64, 2^32]");
    if (c.nnz_min < 1 || c.nnz_max < c.nnz_min || c.nnz_max > c.d_sae / 2) die("need 1 <= nnz-min <= nnz-max <= d/2");
    if (c.topics < 1 || c.topic_size < 1 || c.topic_size > (1u << 17)) die("need topics >= 1, 1 <= topic-size <= 2^17");
    if (c.topic_weight < 0.0 || c.topic_weight >= 1.0) die("--topic-weight must be in [0, 1)");
    if (c.k_per_token < 1 || c.exemplars < 1 || c.targets < 1 || c.reps < 1 || c.n < 1) die("counts must be >= 1");
    if (!(c.top_frac > 0.0 && c.top_frac <= 1.0)) die("--top-frac must be in (0, 1]");
    return c;
}

// ---- small utilities ------------------------------------------------------------------------------------------

using Clock = std::chrono::steady_clock;

double wall_now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

double cpu_now() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// "12,345,678"
std::string grouped(uint64_t x) {
    std::string digits = std::to_string(x);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string fmt(const char* format, double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, x);
    return buf;
}

// Rates with 3 significant digits and thousands separators ("1,230,000", "45.6").
std::string rate(double x) {
    if (!(x >= 0.0) || !std::isfinite(x)) return "n/a";
    if (x >= 1000.0) {
        const double mag = std::pow(10.0, std::floor(std::log10(x)) - 2.0);
        return grouped(static_cast<uint64_t>(std::llround(x / mag) * static_cast<long long>(mag)));
    }
    return fmt(x >= 100.0 ? "%.0f" : (x >= 10.0 ? "%.1f" : "%.2f"), x);
}

std::string seconds(double s) {
    return s >= 10.0 ? fmt("%.1f s", s) : (s >= 0.1 ? fmt("%.2f s", s) : fmt("%.1f ms", s * 1e3));
}

std::string mib(double kib) { return fmt("%.1f MiB", kib / 1024.0); }

struct MemInfo {
    long rss_kb = -1;
    long hwm_kb = -1;
};

MemInfo read_mem() {
    MemInfo m;
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) m.rss_kb = std::atol(line.c_str() + 6);
        if (line.rfind("VmHWM:", 0) == 0) m.hwm_kb = std::atol(line.c_str() + 6);
    }
    return m;
}

// Resets this process's peak-RSS mark (VmHWM) to its current RSS (Linux >= 4.0). False if refused.
bool reset_hwm() {
    const int fd = ::open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0) return false;
    const bool ok = ::write(fd, "5", 1) == 1;
    ::close(fd);
    return ok;
}

std::string read_first_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            return colon == std::string::npos ? line : line.substr(colon + 2);
        }
    }
    return "unknown";
}

// ---- random numbers -------------------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Seed of one generated vector: a function of (seed, kind, index) only.
uint64_t stream_seed(uint64_t seed, uint64_t kind, uint64_t index) {
    uint64_t state = seed ^ (kind * 0xD1B54A32D192ED03ull);
    splitmix64(state);
    state ^= index * 0x9E3779B97F4A7C15ull;
    return splitmix64(state);
}

// xoshiro256**: fast, good enough for synthetic data.
class Rng {
   public:
    explicit Rng(uint64_t seed) {
        for (uint64_t& word : s_) word = splitmix64(seed);
    }
    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

   private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

// ---- synthetic pooled vectors ---------------------------------------------------------------------------------

constexpr int kActivationBits = 15;  // lognormal magnitude table of 2^15 entries

struct Model {
    int64_t d = 0;
    std::vector<uint32_t> alias_threshold;  // [d]: bucket k yields k if the 32-bit draw < threshold, else alias
    std::vector<uint32_t> alias_other;      // [d]
    std::vector<uint32_t> topic_latents;    // [topics][topic_size]
    std::vector<float> activation;          // [2^15] lognormal(0, 1) magnitudes
    uint32_t topic_threshold = 0;           // a draw is from the topic if its 32-bit draw < this
};

Model build_model(const Config& c) {
    Model m;
    m.d = c.d_sae;
    const size_t d = static_cast<size_t>(c.d_sae);
    std::mt19937_64 rng(c.seed);
    std::vector<uint32_t> rank_to_latent(d);
    std::iota(rank_to_latent.begin(), rank_to_latent.end(), 0u);
    std::shuffle(rank_to_latent.begin(), rank_to_latent.end(), rng);
    std::vector<double> weight(d);
    double total = 0.0;
    for (size_t r = 0; r < d; ++r) {
        weight[rank_to_latent[r]] = std::pow(static_cast<double>(r + 1), -c.zipf);
        total += std::pow(static_cast<double>(r + 1), -c.zipf);
    }
    // Vose's alias method.
    std::vector<double> scaled(d);
    std::vector<uint32_t> small, large;
    for (size_t k = 0; k < d; ++k) {
        scaled[k] = weight[k] * static_cast<double>(d) / total;
        (scaled[k] < 1.0 ? small : large).push_back(static_cast<uint32_t>(k));
    }
    std::vector<double> prob(d, 1.0);
    m.alias_other.resize(d);
    std::iota(m.alias_other.begin(), m.alias_other.end(), 0u);
    while (!small.empty() && !large.empty()) {
        const uint32_t s = small.back();
        small.pop_back();
        const uint32_t l = large.back();
        large.pop_back();
        prob[s] = scaled[s];
        m.alias_other[s] = l;
        scaled[l] = scaled[l] + scaled[s] - 1.0;
        (scaled[l] < 1.0 ? small : large).push_back(l);
    }
    m.alias_threshold.resize(d);
    for (size_t k = 0; k < d; ++k) {
        m.alias_threshold[k] = static_cast<uint32_t>(std::min(prob[k] * 4294967296.0, 4294967295.0));
    }
    std::uniform_int_distribution<uint32_t> latent(0, static_cast<uint32_t>(d - 1));
    m.topic_latents.resize(static_cast<size_t>(c.topics) * c.topic_size);
    for (uint32_t& k : m.topic_latents) k = latent(rng);
    std::lognormal_distribution<float> magnitude(0.0f, 1.0f);
    m.activation.resize(size_t{1} << kActivationBits);
    for (float& a : m.activation) a = magnitude(rng);
    m.topic_threshold = static_cast<uint32_t>(std::min(c.topic_weight * 4294967296.0, 4294967295.0));
    return m;
}

class Generator {
   public:
    Generator(const Model& m, const Config& c)
        : m_(m), c_(c), acc_(static_cast<size_t>(m.d), 0.0f), bits_((static_cast<size_t>(m.d) + 63) / 64, 0) {}

    // One pooled vector from stream `seed`; topic < 0: the sample draws its own topic.
    mona::SparseVec make(uint64_t seed, int64_t topic, uint32_t* n_tokens) {
        Rng rng(seed);
        const uint32_t span = c_.nnz_max - c_.nnz_min + 1;
        const uint32_t target = c_.nnz_min + static_cast<uint32_t>(rng.next() % span);
        if (topic < 0) topic = static_cast<int64_t>(rng.next() % c_.topics);
        const uint32_t* topic_set = m_.topic_latents.data() + static_cast<size_t>(topic) * c_.topic_size;
        const uint64_t d = static_cast<uint64_t>(m_.d);
        uint32_t distinct = 0;
        uint64_t draws = 0;
        const uint64_t max_draws = 64 * d;  // unreachable targets stop here (not with the defaults)
        while (distinct < target && draws < max_draws) {
            const uint64_t r1 = rng.next();
            const uint64_t r2 = rng.next();
            uint32_t k;
            if (static_cast<uint32_t>(r2 >> 32) < m_.topic_threshold) {
                k = topic_set[(((r2 >> kActivationBits) & 0x1FFFFu) * c_.topic_size) >> 17];
            } else {
                const uint32_t bucket = static_cast<uint32_t>(((r1 & 0xFFFFFFFFull) * d) >> 32);
                k = static_cast<uint32_t>(r1 >> 32) < m_.alias_threshold[bucket] ? bucket : m_.alias_other[bucket];
            }
            acc_[k] += m_.activation[r2 & ((1u << kActivationBits) - 1)];
            uint64_t& word = bits_[k >> 6];
            const uint64_t bit = uint64_t{1} << (k & 63);
            distinct += (word & bit) == 0;
            word |= bit;
            ++draws;
        }
        const uint64_t tokens = std::max<uint64_t>(1, (draws + c_.k_per_token / 2) / c_.k_per_token);
        *n_tokens = static_cast<uint32_t>(tokens);
        const float inv = 1.0f / static_cast<float>(tokens);
        mona::SparseVec vec;
        vec.idx.reserve(distinct);
        vec.val.reserve(distinct);
        for (size_t w = 0; w < bits_.size(); ++w) {
            uint64_t word = bits_[w];
            if (word == 0) continue;
            bits_[w] = 0;
            while (word) {
                const uint32_t k = static_cast<uint32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(word)));
                word &= word - 1;
                const float v = acc_[k] * inv;
                acc_[k] = 0.0f;
                vec.idx.push_back(k);
                vec.val.push_back(v);
                vec.l1 += v;
            }
        }
        return vec;
    }

   private:
    const Model& m_;
    const Config& c_;
    std::vector<float> acc_;
    std::vector<uint64_t> bits_;
};

constexpr uint64_t kKindPool = 1;
constexpr uint64_t kKindExemplar = 2;

std::vector<mona::Prototype> make_prototypes(const Config& c, const Model& m, uint32_t n_targets) {
    Generator gen(m, c);
    std::vector<mona::Prototype> protos;
    for (uint32_t t = 0; t < n_targets; ++t) {
        std::vector<mona::SparseVec> exemplars;
        for (uint32_t j = 0; j < c.exemplars; ++j) {
            uint32_t tokens = 0;
            exemplars.push_back(gen.make(stream_seed(c.seed, kKindExemplar, uint64_t{t} * c.exemplars + j),
                                         static_cast<int64_t>(t % c.topics), &tokens));
        }
        protos.push_back(mona::make_prototype(exemplars, c.d_sae));
    }
    return protos;
}

// ---- 1. writing a store ---------------------------------------------------------------------------------------

struct WriteStats {
    uint64_t n = 0;
    uint32_t keep = 0;
    double gen_wall = 0, gen_cpu = 0, write_wall = 0, write_cpu = 0;
    uint64_t bytes = 0;
    size_t shards = 0;
    uint64_t sum_nnz = 0;
    uint64_t sum_stored = 0;
};

WriteStats write_store(const Config& c, const Model& m, const std::string& dir, uint32_t keep, uint64_t n) {
    WriteStats ws;
    ws.n = n;
    ws.keep = keep;
    mona::StoreOptions options;
    options.keep = keep;
    auto values = mona::parse_value_encoding(c.values);
    check(values.status(), "--values");
    options.values = values.value();
    options.params_json = "{\"bench\": \"store_bench\", \"seed\": " + std::to_string(c.seed) +
                          ", \"d_sae\": " + std::to_string(c.d_sae) + "}";
    auto opened = mona::StoreWriter::open(dir, options);
    check(opened.status(), ("open writer " + dir).c_str());
    mona::StoreWriter writer = std::move(opened).value();
    Generator gen(m, c);
    constexpr uint64_t kBatch = 2048;
    std::vector<mona::StoredSample> batch;
    uint64_t source_pos = 0;
    char id[32];
    for (uint64_t first = 0; first < n; first += kBatch) {
        const uint64_t count = std::min(kBatch, n - first);
        double w0 = wall_now(), c0 = cpu_now();
        batch.clear();
        batch.resize(count);
        for (uint64_t j = 0; j < count; ++j) {
            mona::StoredSample& s = batch[j];
            s.record_idx = first + j;
            s.source_pos = source_pos;
            std::snprintf(id, sizeof id, "pool-%08" PRIu64, first + j);
            s.id = id;
            s.vec = gen.make(stream_seed(c.seed, kKindPool, first + j), -1, &s.n_tokens);
            source_pos += 64 + uint64_t{4} * s.n_tokens;  // a JSONL line of roughly 4 bytes per token
            ws.sum_nnz += s.vec.nnz();
            ws.sum_stored += keep == 0 ? s.vec.nnz() : std::min<uint64_t>(keep, s.vec.nnz());
        }
        double w1 = wall_now(), c1 = cpu_now();
        for (const mona::StoredSample& s : batch) check(writer.append(s), "append");
        double w2 = wall_now(), c2 = cpu_now();
        ws.gen_wall += w1 - w0;
        ws.gen_cpu += c1 - c0;
        ws.write_wall += w2 - w1;
        ws.write_cpu += c2 - c1;
        if ((first / kBatch) % 64 == 63) {
            std::fprintf(stderr, "  keep=%u: %s / %s samples\n", keep, grouped(first + count).c_str(),
                         grouped(n).c_str());
        }
    }
    double w0 = wall_now(), c0 = cpu_now();
    check(writer.commit(), "commit");
    ws.write_wall += wall_now() - w0;
    ws.write_cpu += cpu_now() - c0;
    auto reader = mona::StoreReader::open(dir);
    check(reader.status(), "open reader");
    ws.bytes = reader.value().bytes_on_disk();
    ws.shards = reader.value().n_shards();
    if (reader.value().size() != n) die("store " + dir + " holds the wrong number of samples");
    return ws;
}

// ---- 2.-4. the streaming scoring pass (in a child process) ----------------------------------------------------

uint64_t selection_hash(const std::vector<std::vector<std::pair<uint64_t, double>>>& selections) {
    uint64_t h = 1469598103934665603ull;
    for (const auto& sel : selections) {
        for (const auto& [pos, score] : sel) {
            h = (h ^ pos) * 1099511628211ull;
        }
        h = (h ^ 0xFFFFull) * 1099511628211ull;
    }
    return h;
}

int child_main(const Config& c) {
    std::vector<mona::Prototype> protos;
    {
        const Model m = build_model(c);
        protos = make_prototypes(c, m, c.child_targets);
    }
    const bool reset = reset_hwm();
    const MemInfo before = read_mem();
    const double w0 = wall_now(), c0 = cpu_now();
    auto opened = mona::StoreReader::open(c.child_store);
    check(opened.status(), "open store");
    const mona::StoreReader& reader = opened.value();
    std::vector<mona::TopNHeap> heaps(protos.size(), mona::TopNHeap(c.child_top));
    uint64_t n_read = 0;
    if (c.child_threads == 0) {
        // Today's pass (before issue 16): one thread, each target scored on its own.
        check(reader.for_each([&](const mona::StoredSample& s) -> mona::Status {
            for (size_t t = 0; t < protos.size(); ++t) heaps[t].push(s.record_idx, mona::jaccard(s.vec, protos[t]));
            ++n_read;
            return mona::Status();
        }),
              "scoring pass");
    } else {
        // `mona score`'s pass (score/store_scan.hpp): shards on threads, targets together per sample.
        auto set = mona::StoreSet::open({c.child_store});
        check(set.status(), "open store set");
        std::vector<mona::StoreUnit> units;
        for (size_t shard = 0; shard < reader.n_shards(); ++shard) units.push_back({0, shard});
        const mona::PrototypeBlock block = mona::make_prototype_block(protos);
        std::vector<mona::ScoredUnit> scored;
        check(mona::score_units(set.value(), units, block, c.child_threads, scored), "fast scoring pass");
        for (const mona::ScoredUnit& unit : scored) {
            for (size_t row = 0; row < unit.record_idx.size(); ++row) {
                for (size_t t = 0; t < protos.size(); ++t) {
                    heaps[t].push(unit.record_idx[row], unit.scores[row * protos.size() + t]);
                }
            }
            n_read += unit.record_idx.size();
        }
    }
    std::vector<std::vector<std::pair<uint64_t, double>>> selections;
    for (const mona::TopNHeap& heap : heaps) selections.push_back(heap.sorted());
    const double w1 = wall_now(), c1 = cpu_now();
    const MemInfo after = read_mem();
    std::printf("RESULT %" PRIu64 " %.9f %.9f %ld %ld %ld %d %016" PRIx64 "\n", n_read, w1 - w0, c1 - c0, before.rss_kb,
                before.hwm_kb, after.hwm_kb, reset ? 1 : 0, selection_hash(selections));
    return 0;
}

struct PassResult {
    uint64_t n_read = 0;
    double wall = 0, cpu = 0;
    long rss_before_kb = 0, hwm_before_kb = 0, hwm_after_kb = 0;
    bool reset = false;
    uint64_t hash = 0;
};

PassResult run_child(const std::vector<std::string>& base_args, const std::string& store, uint32_t n_targets,
                     uint64_t top, int threads) {
    std::vector<std::string> args;
    args.push_back("mona_bench_store");
    args.insert(args.end(), base_args.begin(), base_args.end());
    for (const std::string& a :
         {std::string("--child-score"), store, std::string("--child-targets"), std::to_string(n_targets),
          std::string("--child-top"), std::to_string(top), std::string("--child-threads"), std::to_string(threads)}) {
        args.push_back(a);
    }
    int fds[2];
    if (::pipe(fds) != 0) die("pipe failed");
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::close(fds[0]);
        ::close(fds[1]);
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv("/proc/self/exe", argv.data());
        std::_Exit(127);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t got;
    while ((got = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(got));
    ::close(fds[0]);
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) die("scoring child failed: " + out);
    PassResult r;
    int reset = 0;
    const size_t at = out.find("RESULT ");
    if (at == std::string::npos ||
        std::sscanf(out.c_str() + at, "RESULT %" SCNu64 " %lf %lf %ld %ld %ld %d %" SCNx64, &r.n_read, &r.wall, &r.cpu,
                    &r.rss_before_kb, &r.hwm_before_kb, &r.hwm_after_kb, &reset, &r.hash) != 8) {
        die("cannot parse the scoring child's output: " + out);
    }
    r.reset = reset != 0;
    return r;
}

struct PassSummary {
    std::string store;
    int threads = 0;  // 0: today's pass
    uint32_t targets = 0;
    uint64_t n = 0, top = 0;
    double wall = 0, cpu = 0;                  // medians
    long rss_before_kb = 0, hwm_after_kb = 0;  // max over the repetitions
    bool reset = true;
    uint64_t hash = 0;
};

PassSummary score_passes(const Config& c, const std::vector<std::string>& base_args, const std::string& label,
                         const std::string& store, uint64_t n, uint32_t n_targets, int threads = 0) {
    PassSummary s;
    s.store = label;
    s.threads = threads;
    s.targets = n_targets;
    s.top = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(c.top_frac * static_cast<double>(n))));
    std::vector<double> walls, cpus;
    for (int rep = 0; rep < c.reps; ++rep) {
        const PassResult r = run_child(base_args, store, n_targets, s.top, threads);
        std::fprintf(stderr, "  %s, %u target(s), %s, rep %d: %.3f s wall, %.3f s CPU, VmHWM %ld kB\n", label.c_str(),
                     n_targets, threads == 0 ? "today's pass" : "fast pass", rep + 1, r.wall, r.cpu, r.hwm_after_kb);
        if (r.n_read != n)
            die("scoring pass read " + std::to_string(r.n_read) + " samples, expected " + std::to_string(n));
        if (rep > 0 && r.hash != s.hash) die("scoring passes disagree on the selection");
        s.hash = r.hash;
        s.n = r.n_read;
        walls.push_back(r.wall);
        cpus.push_back(r.cpu);
        s.rss_before_kb = std::max(s.rss_before_kb, r.rss_before_kb);
        s.hwm_after_kb = std::max(s.hwm_after_kb, r.hwm_after_kb);
        s.reset = s.reset && r.reset;
    }
    s.wall = median(walls);
    s.cpu = median(cpus);
    return s;
}

// ---- 5. the dense reference -----------------------------------------------------------------------------------

std::vector<mona::StoredSample> load_prefix(const mona::StoreReader& reader, uint64_t count) {
    std::vector<mona::StoredSample> out;
    for (size_t shard = 0; shard < reader.n_shards() && out.size() < count; ++shard) {
        check(reader.for_each_in_shard(shard,
                                       [&](const mona::StoredSample& s) -> mona::Status {
                                           if (out.size() < count) out.push_back(s);
                                           return mona::Status();
                                       }),
              "load subset");
    }
    return out;
}

struct DenseSums {
    double sum_min = 0.0;
    double sum_max = 0.0;
};

// The straightforward dense loop (as tests/reference's jaccard_dense, keeping both sums).
DenseSums dense_sums(const std::vector<float>& a, const std::vector<float>& b) {
    DenseSums s;
    for (size_t k = 0; k < a.size(); ++k) {
        s.sum_min += std::min(static_cast<double>(a[k]), static_cast<double>(b[k]));
        s.sum_max += std::max(static_cast<double>(a[k]), static_cast<double>(b[k]));
    }
    return s;
}

struct DenseCompare {
    std::string label;
    uint64_t n = 0, top = 0;
    double ident_wall = 0, ident_cpu = 0;  // medians
    double dense_wall = 0, dense_cpu = 0;  // one run
    bool same_topn = false;
    size_t topn_mismatches = 0;  // positions of the identity's top-n missing from the dense top-n
    double max_abs_diff = 0.0;
    double self_overlap = 1.0;  // top-n overlap of the identity with the plain Σmin/Σmax of the stored entries
    double kept_mass = 1.0;     // mean Σ stored values / l1
};

DenseCompare compare_dense(const Config& c, const std::string& label, const std::vector<mona::StoredSample>& subset,
                           const mona::Prototype& proto, bool check_reference) {
    DenseCompare r;
    r.label = label;
    r.n = subset.size();
    r.top = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(c.top_frac * static_cast<double>(r.n))));
    std::vector<double> ident_scores(subset.size());
    std::vector<std::pair<uint64_t, double>> ident_sel;
    std::vector<double> walls, cpus;
    for (int rep = 0; rep < c.reps; ++rep) {
        const double w0 = wall_now(), c0 = cpu_now();
        mona::TopNHeap heap(r.top);
        for (size_t i = 0; i < subset.size(); ++i) {
            const double score = mona::jaccard(subset[i].vec, proto);
            ident_scores[i] = score;
            heap.push(subset[i].record_idx, score);
        }
        ident_sel = heap.sorted();
        walls.push_back(wall_now() - w0);
        cpus.push_back(cpu_now() - c0);
    }
    r.ident_wall = median(walls);
    r.ident_cpu = median(cpus);

    std::vector<float> dense(proto.dense.size(), 0.0f);
    std::vector<double> dense_scores(subset.size());
    double kept_mass = 0.0;
    const double w0 = wall_now(), c0 = cpu_now();
    mona::TopNHeap heap(r.top);
    mona::TopNHeap heap_self(r.top);
    for (size_t i = 0; i < subset.size(); ++i) {
        const mona::SparseVec& v = subset[i].vec;
        double stored = 0.0;
        for (size_t e = 0; e < v.nnz(); ++e) {
            dense[v.idx[e]] = v.val[e];
            stored += v.val[e];
        }
        const DenseSums s = dense_sums(dense, proto.dense);
        for (const uint32_t k : v.idx) dense[k] = 0.0f;
        // Dropped mass added back (0 exactly for keep=0: l1 is the same double sum of the same values).
        const double denom = s.sum_max + (v.l1 - stored);
        const double score = denom > 0.0 ? s.sum_min / denom : 0.0;
        dense_scores[i] = score;
        heap.push(subset[i].record_idx, score);
        heap_self.push(subset[i].record_idx, s.sum_max > 0.0 ? s.sum_min / s.sum_max : 0.0);
        kept_mass += v.l1 > 0.0 ? stored / v.l1 : 1.0;
    }
    const auto dense_sel = heap.sorted();
    const auto self_sel = heap_self.sorted();
    r.dense_wall = wall_now() - w0;
    r.dense_cpu = cpu_now() - c0;
    r.kept_mass = kept_mass / static_cast<double>(subset.size());

    // Compressed values: the stored l1 is the exact norm of the values before encoding, not of the decoded ones,
    // so the dense Σmax differs from the identity's by design; only f32 stores are tied to the reference.
    if (check_reference && c.values == "f32") {
        // Tie the plain loop to the project's reference: bit-equal on untruncated vectors.
        for (size_t i = 0; i < std::min<size_t>(50, subset.size()); ++i) {
            const double ref =
                mona::reference::jaccard_dense(mona::reference::to_dense(subset[i].vec, c.d_sae), proto.dense);
            if (ref != dense_scores[i]) {
                die("dense loop differs from reference::jaccard_dense on sample " + std::to_string(i));
            }
        }
    }
    for (size_t i = 0; i < subset.size(); ++i) {
        r.max_abs_diff = std::max(r.max_abs_diff, std::fabs(ident_scores[i] - dense_scores[i]));
    }
    r.same_topn = ident_sel.size() == dense_sel.size();
    for (size_t i = 0; r.same_topn && i < ident_sel.size(); ++i) r.same_topn = ident_sel[i].first == dense_sel[i].first;
    std::set<uint64_t> dense_set, self_set;
    for (const auto& [pos, score] : dense_sel) dense_set.insert(pos);
    for (const auto& [pos, score] : self_sel) self_set.insert(pos);
    size_t self_common = 0;
    for (const auto& [pos, score] : ident_sel) {
        r.topn_mismatches += dense_set.count(pos) == 0;
        self_common += self_set.count(pos);
    }
    r.self_overlap = static_cast<double>(self_common) / static_cast<double>(ident_sel.size());
    return r;
}

// ---- extra: keep vs keep=0 over the shared prefix -------------------------------------------------------------

std::vector<std::vector<std::pair<uint64_t, double>>> prefix_selections(const mona::StoreReader& reader, uint64_t n,
                                                                        const std::vector<mona::Prototype>& protos,
                                                                        uint64_t top) {
    std::vector<mona::TopNHeap> heaps(protos.size(), mona::TopNHeap(top));
    for (size_t shard = 0; shard < reader.n_shards(); ++shard) {
        bool past = false;
        check(reader.for_each_in_shard(shard,
                                       [&](const mona::StoredSample& s) -> mona::Status {
                                           if (s.record_idx >= n) {
                                               past = true;
                                               return mona::Status();
                                           }
                                           for (size_t t = 0; t < protos.size(); ++t)
                                               heaps[t].push(s.record_idx, mona::jaccard(s.vec, protos[t]));
                                           return mona::Status();
                                       }),
              "prefix pass");
        if (past) break;
    }
    std::vector<std::vector<std::pair<uint64_t, double>>> out;
    for (const mona::TopNHeap& heap : heaps) out.push_back(heap.sorted());
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> base_args(argv + 1, argv + argc);
    Config c = parse_args(base_args);
    if (!c.child_store.empty()) return child_main(c);

    const double t_start = wall_now();
    if (c.dir.empty()) c.dir = "/tmp/mona-store-bench." + std::to_string(::getpid());
    if (std::filesystem::exists(c.dir)) die(c.dir + " exists; pass a fresh --dir");
    std::filesystem::create_directories(c.dir);
    const std::string dir_main = c.dir + "/keep" + std::to_string(c.keep);
    const std::string dir_full = c.dir + "/keep0-full";
    const bool have_full = c.n_full > 0 && c.keep != 0;
    const std::string load_start = read_first_line("/proc/loadavg");
    std::fprintf(stderr, "store_bench: %s, load %s, stores under %s\n", cpu_model().c_str(), load_start.c_str(),
                 c.dir.c_str());

    // 1. Stores.
    const Model model = build_model(c);
    std::fprintf(stderr, "writing keep=%u store of %s samples\n", c.keep, grouped(c.n).c_str());
    const WriteStats ws_main = write_store(c, model, dir_main, c.keep, c.n);
    WriteStats ws_full;
    if (have_full) {
        std::fprintf(stderr, "writing keep=0 store of %s samples\n", grouped(c.n_full).c_str());
        ws_full = write_store(c, model, dir_full, 0, c.n_full);
    }

    // 2.-4. Streaming passes, each in a fresh child process.
    std::vector<PassSummary> passes;
    std::fprintf(stderr, "scoring passes\n");
    passes.push_back(score_passes(c, base_args, "keep=" + std::to_string(c.keep), dir_main, c.n, 1));
    passes.push_back(score_passes(c, base_args, "keep=" + std::to_string(c.keep), dir_main, c.n, c.targets));
    if (have_full) {
        passes.push_back(score_passes(c, base_args, "keep=0", dir_full, c.n_full, 1));
        passes.push_back(score_passes(c, base_args, "keep=0", dir_full, c.n_full, c.targets));
    }
    // The same passes with `mona score`'s scorer (issue 16), in the same run: same selections (hash) required.
    std::vector<PassSummary> fast_passes;
    if (c.fast_threads > 0) {
        for (const PassSummary& today : std::vector<PassSummary>(passes)) {
            const bool full = today.store == "keep=0" && have_full;
            PassSummary fast = score_passes(c, base_args, today.store, full ? dir_full : dir_main, today.n,
                                            today.targets, c.fast_threads);
            if (fast.hash != today.hash) die("the fast pass selects differently from today's pass: " + today.store);
            fast_passes.push_back(fast);
        }
    }

    // 5. Dense reference on the first `subset` samples, target 0.
    const std::vector<mona::Prototype> protos = make_prototypes(c, model, c.targets);
    std::vector<DenseCompare> dense;
    {
        std::fprintf(stderr, "dense reference\n");
        if (have_full) {
            auto reader = mona::StoreReader::open(dir_full);
            check(reader.status(), "open keep=0 store");
            const auto subset = load_prefix(reader.value(), std::min(c.subset, c.n_full));
            dense.push_back(compare_dense(c, "keep=0", subset, protos[0], true));
        }
        auto reader = mona::StoreReader::open(dir_main);
        check(reader.status(), "open main store");
        const auto subset = load_prefix(reader.value(), std::min(c.subset, c.n));
        dense.push_back(compare_dense(c, "keep=" + std::to_string(c.keep), subset, protos[0], c.keep == 0));
    }

    // Extra: keep vs keep=0 top-n overlap over the shared prefix (all targets).
    std::vector<double> overlaps;
    uint64_t overlap_top = 0;
    if (have_full) {
        std::fprintf(stderr, "keep=%u vs keep=0 overlap over the first %s samples\n", c.keep,
                     grouped(c.n_full).c_str());
        overlap_top =
            std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(c.top_frac * static_cast<double>(c.n_full))));
        auto full = mona::StoreReader::open(dir_full);
        auto main_store = mona::StoreReader::open(dir_main);
        check(full.status(), "open keep=0 store");
        check(main_store.status(), "open main store");
        const auto sel_full = prefix_selections(full.value(), c.n_full, protos, overlap_top);
        const auto sel_main = prefix_selections(main_store.value(), c.n_full, protos, overlap_top);
        if (selection_hash(sel_full) != passes[3].hash) die("in-process keep=0 selection differs from the child's");
        for (size_t t = 0; t < protos.size(); ++t) {
            std::set<uint64_t> in_full;
            for (const auto& [pos, score] : sel_full[t]) in_full.insert(pos);
            size_t common = 0;
            for (const auto& [pos, score] : sel_main[t]) common += in_full.count(pos);
            overlaps.push_back(static_cast<double>(common) / static_cast<double>(sel_full[t].size()));
        }
    }

    if (!c.keep_files) std::filesystem::remove_all(c.dir);
    const std::string load_end = read_first_line("/proc/loadavg");
    const double total = wall_now() - t_start;

    // ---- report ----
    std::printf("## mona_bench_store\n\n");
    std::printf("CPU: %s, %ld online CPUs. /proc/loadavg at start: %s; at end: %s. Total run %s.\n",
                cpu_model().c_str(), ::sysconf(_SC_NPROCESSORS_ONLN), load_start.c_str(), load_end.c_str(),
                seconds(total).c_str());
    std::printf(
        "Data: d_sae %s, nnz uniform in [%u, %u], Zipf s = %g, %u topics (weight %g, %u latents each), "
        "seed %" PRIu64
        "; %u targets of %u exemplars; top-n = %g %% of the samples scored; %d repetitions "
        "(medians); store values %s.\n\n",
        grouped(static_cast<uint64_t>(c.d_sae)).c_str(), c.nnz_min, c.nnz_max, c.zipf, c.topics, c.topic_weight,
        c.topic_size, c.seed, c.targets, c.exemplars, 100.0 * c.top_frac, c.reps, c.values.c_str());

    std::printf("### Store (StoreWriter, default shard_rows; one run)\n\n");
    std::printf(
        "| store | samples | mean nnz | stored latents/sample | bytes on disk | bytes/sample | shards | "
        "generate (wall) | write wall | write CPU | write samples/s (wall) | write MB/s (wall) |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const WriteStats* ws : std::initializer_list<const WriteStats*>{&ws_main, &ws_full}) {
        if (ws->n == 0) continue;
        const double n = static_cast<double>(ws->n);
        std::printf("| keep=%u | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", ws->keep,
                    grouped(ws->n).c_str(), static_cast<double>(ws->sum_nnz) / n,
                    static_cast<double>(ws->sum_stored) / n,
                    fmt("%.1f MB", static_cast<double>(ws->bytes) / 1e6).c_str(),
                    grouped(static_cast<uint64_t>(std::llround(static_cast<double>(ws->bytes) / n))).c_str(),
                    grouped(ws->shards).c_str(), seconds(ws->gen_wall).c_str(), seconds(ws->write_wall).c_str(),
                    seconds(ws->write_cpu).c_str(), rate(n / ws->write_wall).c_str(),
                    rate(static_cast<double>(ws->bytes) / 1e6 / ws->write_wall).c_str());
    }

    std::printf(
        "\n### Streaming scoring pass (StoreReader::for_each, one thread, one TopNHeap per target; a fresh "
        "process per pass)\n\n");
    std::printf(
        "| store | targets | samples | top-n | wall (median) | CPU (median) | samples/s (wall) | samples/s "
        "(CPU) | sample-target scores/s (CPU) | RSS before pass | peak RSS (VmHWM) |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const PassSummary& p : passes) {
        const double n = static_cast<double>(p.n);
        std::printf("| %s | %u | %s | %s | %s | %s | %s | %s | %s | %s | %s%s |\n", p.store.c_str(), p.targets,
                    grouped(p.n).c_str(), grouped(p.top).c_str(), seconds(p.wall).c_str(), seconds(p.cpu).c_str(),
                    rate(n / p.wall).c_str(), rate(n / p.cpu).c_str(), rate(n * p.targets / p.cpu).c_str(),
                    mib(static_cast<double>(p.rss_before_kb)).c_str(), mib(static_cast<double>(p.hwm_after_kb)).c_str(),
                    p.reset ? "" : " (HWM not reset)");
    }

    if (!fast_passes.empty()) {
        std::printf(
            "\n### `mona score`'s pass (score_units: shards on %d threads, targets together per sample) against "
            "today's pass, same stores, same run (same selections: checked)\n\n",
            c.fast_threads);
        std::printf(
            "| store | targets | samples | today wall | fast wall | wall ratio (today / fast) | today CPU | fast CPU | "
            "CPU ratio | fast samples/s (wall) | fast peak RSS |\n");
        std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (size_t i = 0; i < fast_passes.size(); ++i) {
            const PassSummary& t = passes[i];
            const PassSummary& f = fast_passes[i];
            std::printf("| %s | %u | %s | %s | %s | %.2f× | %s | %s | %.2f× | %s | %s |\n", f.store.c_str(), f.targets,
                        grouped(f.n).c_str(), seconds(t.wall).c_str(), seconds(f.wall).c_str(), t.wall / f.wall,
                        seconds(t.cpu).c_str(), seconds(f.cpu).c_str(), t.cpu / f.cpu,
                        rate(static_cast<double>(f.n) / f.wall).c_str(),
                        mib(static_cast<double>(f.hwm_after_kb)).c_str());
        }
    }

    std::printf("\n### Against a dense reference (first %s samples in memory, target 0, 1 thread)\n\n",
                grouped(c.subset).c_str());
    std::printf(
        "| store | top-n | identity wall (median of %d) | identity samples/s | dense wall (1 run) | dense "
        "samples/s | dense / identity (wall) | dense / identity (CPU) | same top-n (order too) | max abs "
        "score diff |\n",
        c.reps);
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
    for (const DenseCompare& d : dense) {
        const double n = static_cast<double>(d.n);
        std::printf("| %s | %s | %s | %s | %s | %s | %s× | %s× | %s | %.2g |\n", d.label.c_str(),
                    grouped(d.top).c_str(), seconds(d.ident_wall).c_str(), rate(n / d.ident_wall).c_str(),
                    seconds(d.dense_wall).c_str(), rate(n / d.dense_wall).c_str(),
                    rate(d.dense_wall / d.ident_wall).c_str(), rate(d.dense_cpu / d.ident_cpu).c_str(),
                    d.same_topn ? "yes" : ("NO: " + std::to_string(d.topn_mismatches) + " differ").c_str(),
                    d.max_abs_diff);
    }
    std::printf(
        "\nStreaming pass (decode + score + heap, 1 target) vs the dense loop on in-memory vectors, "
        "samples/s by CPU time:\n");
    for (const DenseCompare& d : dense) {
        for (const PassSummary& p : passes) {
            if (p.store == d.label && p.targets == 1) {
                const double pass_rate = static_cast<double>(p.n) / p.cpu;
                const double dense_rate = static_cast<double>(d.n) / d.dense_cpu;
                std::printf("- %s: pass %s samples/s, dense %s samples/s: %s×\n", d.label.c_str(),
                            rate(pass_rate).c_str(), rate(dense_rate).c_str(), rate(pass_rate / dense_rate).c_str());
            }
        }
    }
    for (const DenseCompare& d : dense) {
        if (d.label != "keep=0") {
            std::printf(
                "\n%s: stored values hold %.1f %% of the L1 mass on average; the plain Σmin/Σmax of the "
                "truncated vectors (no dropped mass in the denominator, a different quantity) shares %.1f %% "
                "of the identity's top-n.\n",
                d.label.c_str(), 100.0 * d.kept_mass, 100.0 * d.self_overlap);
        }
    }
    if (!overlaps.empty()) {
        std::vector<double> sorted = overlaps;
        std::sort(sorted.begin(), sorted.end());
        std::printf(
            "\nSynthetic only: top-%s (%g %%) of the first %s samples, keep=%u vs keep=0, over %zu targets: "
            "overlap min %.1f %%, median %.1f %%, max %.1f %%.\n",
            grouped(overlap_top).c_str(), 100.0 * c.top_frac, grouped(c.n_full).c_str(), c.keep, sorted.size(),
            100.0 * sorted.front(), 100.0 * median(sorted), 100.0 * sorted.back());
    }
    std::printf("\nStores %s under %s.\n", c.keep_files ? "kept" : "removed", c.dir.c_str());
    return 0;
}
