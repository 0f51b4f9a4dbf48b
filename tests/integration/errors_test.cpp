// Issue 9: the bad-input catalogue (docs/errors.md), as ONE table-driven test: every row gives the real `mona`
// binary one bad input (a flag, a file, the disk, a file changing under the run, a second run into the same --out)
// and checks that
//   - it exits with the row's code (1 = failed on input or at run time, 2 = usage error) and was not killed by a
//     signal (no abort, no std::terminate, no crash),
//   - stderr holds "mona: error:", is well-formed UTF-8, and holds every expected piece of the message, which
//     names the file, line and field where there is one ("{dir}" in a row stands for the row's own folder,
//     "{root}" for the suite's, where the shared model, SAE, pool and targets lie),
//   - nothing was written: every file and folder of the row's folder (which holds --out) is as before the run,
//     so a failed run leaves no --out folder, no staging or store folder and no half-written file.
// docs/errors.md carries the same table; ErrorCatalogueDoc.DocumentMatchesTheTable keeps the two in sync
// (MONA_UPDATE_ERRORS_DOC=1 rewrites the document's table from this one).
//
// Rows that need root (tmpfs mounts: a full disk, a read-only file system) are skipped, with the reason, when
// the test is not root or the mount fails; the test then reports itself skipped after running every other row.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"

#ifndef MONA_BIN
#error "MONA_BIN must be defined by tests/CMakeLists.txt"
#endif

namespace mona {
namespace {

namespace fs = std::filesystem;
using fixtures::RunResult;

// What the suite builds once and every row may use (read-only: rows copy what they break).
struct Shared {
    std::string root;      // temporary folder of the whole suite
    std::string scratch;   // stdout/stderr files of the runs
    std::string model;     // tiny llama GGUF, 3 layers, n_embd 64
    std::string sae;       // sparsify SAE folder layers.1 (HF layer 2), d_in 64, d_sae 256, k 8
    std::string pool;      // 40 labelled samples
    std::string big_pool;  // 200 samples: a run long enough to act on while it runs
    std::vector<std::string> pool_lines;
    std::string target_a;  // math exemplars
    std::string target_b;  // cooking exemplars
    std::string trained;   // a train-sae --out after one completed epoch (checkpoint.bin, train_state.json)
    std::vector<std::string> train_args;  // the flags that trained it (add --out DIR --resume to resume)
};

// One row while it runs: its folder, the shared fixtures, and what it expects to find unchanged.
struct Ctx {
    const Shared& shared;
    std::string dir;                            // the row's own folder; --out lies inside it
    std::map<std::string, std::string> before;  // snapshot of dir before the run

    std::string path(const std::string& rel) const { return dir + "/" + rel; }
    // The file at `path` was changed by the row itself during the run: expect it as it is now.
    void expect_as_now(const std::string& file);
};

// How to run one row.
struct Plan {
    Plan(std::vector<std::string> args_in = {}) : args(std::move(args_in)) {}  // NOLINT: implicit on purpose
    std::vector<std::string> args;
    std::vector<std::pair<std::string, std::string>> env;
    std::string skip;  // non-empty: the row cannot run here, and why
    // With `during`, the run starts in the background and `during` gets its pid; the run's result is checked
    // once `during` returned and the run ended.
    std::function<void(Ctx&, pid_t)> during;
    // Called after the checked run (and the checks), e.g. to resume a stopped first run or to unmount.
    std::function<void(Ctx&)> after;
};

struct Case {
    std::string name;   // row key in docs/errors.md
    std::string input;  // the bad input, in words
    int exit_code;
    std::vector<std::string> expect;  // pieces of stderr; "{dir}" = the row's folder, "{root}" = the suite's
    std::function<Plan(Ctx&)> setup;
};

// ---- helpers for the rows

std::string slurp(const std::string& path) { return fixtures::read_file(path); }

void spit(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
        text.replace(pos, from.size(), to);
    }
    return text;
}

// A path -> "kind size mtime content-hash" map of everything below dir (dir itself included).
std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return out;
    out[dir] = "dir";
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        const std::string p = it->path().string();
        struct stat info;
        if (::lstat(p.c_str(), &info) != 0) continue;
        if (S_ISDIR(info.st_mode)) {
            out[p] = "dir";
            continue;
        }
        std::string entry = std::to_string(info.st_size) + " " + std::to_string(info.st_mtim.tv_sec) + "." +
                            std::to_string(info.st_mtim.tv_nsec);
        if (S_ISREG(info.st_mode) && info.st_size < (1 << 20))
            entry += " " + std::to_string(std::hash<std::string>()(slurp(p)));
        out[p] = entry;
    }
    return out;
}

void Ctx::expect_as_now(const std::string& file) {
    std::map<std::string, std::string> now = snapshot(fs::path(file).parent_path().string());
    before[file] = now[file];
}

// Waits (up to 60 s) until pred() holds; false on timeout.
bool wait_until(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return true;
}

// `mona select` with the shared model, SAE and two targets.
std::vector<std::string> select_args(const Shared& s, const std::string& pool, const std::string& out,
                                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {
        "select",   "--model",         s.model,   "--sae", s.sae,   "--pool", pool,      "--target",  "a=" + s.target_a,
        "--target", "b=" + s.target_b, "--count", "4",     "--out", out,      "--quiet", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

// Removes `flag` and its value from args.
void drop_flag(std::vector<std::string>& args, const std::string& flag) {
    for (size_t arg_idx = 0; arg_idx + 1 < args.size(); ++arg_idx) {
        if (args[arg_idx] == flag) {
            args.erase(args.begin() + static_cast<std::ptrdiff_t>(arg_idx),
                       args.begin() + static_cast<std::ptrdiff_t>(arg_idx) + 2);
            return;
        }
    }
}

Plan select_with(Ctx& c, const std::vector<std::string>& extra) {
    return {select_args(c.shared, c.shared.pool, c.path("out"), extra)};
}

Plan select_pool(Ctx& c, const std::string& pool, const std::vector<std::string>& extra = {}) {
    return {select_args(c.shared, pool, c.path("out"), extra)};
}

// The shared pool with line `line_no` (1-based) replaced by `bad`, written to the row's folder.
std::string pool_with_line(Ctx& c, const std::string& name, size_t line_no, const std::string& bad) {
    std::string text;
    for (size_t line_idx = 0; line_idx < c.shared.pool_lines.size(); ++line_idx) {
        text += (line_idx + 1 == line_no ? bad : c.shared.pool_lines[line_idx]) + "\n";
    }
    spit(c.path(name), text);
    return c.path(name);
}

std::string copy_sae(Ctx& c) {
    const std::string folder = c.path("sae/layers.1");
    fs::create_directories(folder);
    for (const char* file : {"cfg.json", "sae.safetensors"})
        fs::copy_file(c.shared.sae + "/" + file, folder + "/" + file);
    return folder;
}

// Overwrites element `element_idx` of tensor `tensor` (F32) of a safetensors file.
void poke_f32(const std::string& path, const std::string& tensor, size_t element_idx, float value) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t header_len = 0;
    file.read(reinterpret_cast<char*>(&header_len), 8);
    std::string header(header_len, '\0');
    file.read(header.data(), static_cast<std::streamsize>(header_len));
    const nlohmann::json meta = nlohmann::json::parse(header);
    const uint64_t begin = meta.at(tensor).at("data_offsets").at(0).get<uint64_t>();
    file.seekp(static_cast<std::streamoff>(8 + header_len + begin + element_idx * sizeof(float)));
    file.write(reinterpret_cast<const char*>(&value), sizeof(float));
}

// A copy of the trained run's --out folder for a --resume row.
std::string copy_trained(Ctx& c) {
    const std::string out = c.path("train");
    fs::copy(c.shared.trained, out, fs::copy_options::recursive);
    return out;
}

Plan resume_from(Ctx& c, const std::string& out) {
    std::vector<std::string> args = {"train-sae"};
    args.insert(args.end(), c.shared.train_args.begin(), c.shared.train_args.end());
    args.insert(args.end(), {"--out", out, "--resume"});
    return {args};
}

bool is_utf8(const std::string& text) {
    size_t pos = 0;
    while (pos < text.size()) {
        const auto lead = static_cast<unsigned char>(text[pos]);
        const size_t n = lead < 0x80           ? 1
                         : (lead >> 5) == 0x6  ? 2
                         : (lead >> 4) == 0xE  ? 3
                         : (lead >> 3) == 0x1E ? 4
                                               : 0;
        if (n == 0 || pos + n > text.size()) return false;
        for (size_t cont = 1; cont < n; ++cont) {
            if ((static_cast<unsigned char>(text[pos + cont]) & 0xC0) != 0x80) return false;
        }
        pos += n;
    }
    return true;
}

bool is_root() { return ::geteuid() == 0; }

// Mounts a tmpfs at `mount_point` (created) with `options`; "" on success, else why not.
std::string mount_tmpfs(const std::string& mount_point, const std::string& options) {
    if (!is_root()) return "not root: cannot mount a tmpfs";
    fs::create_directories(mount_point);
    if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, options.c_str()) != 0) {
        return std::string("mount -t tmpfs -o ") + options + " failed: " + std::strerror(errno);
    }
    return "";
}

void unmount(const std::string& mount_point) {
    if (::umount2(mount_point.c_str(), 0) != 0) ::umount2(mount_point.c_str(), MNT_DETACH);
}

// ---- the catalogue

const std::vector<Case>& catalogue() {
    // clang-format off
    static const std::vector<Case> cases = {
        // ---- flags: usage errors (exit 2), refused before anything is read or written
        {"layer-overflow", "`--layer 4294967296` (2^32: used to narrow to layer 0 and pass)", 2,
         {"--layer: 4294967296 is out of range: expected an integer in 0..2147483647"},
         [](Ctx& c) { return select_with(c, {"--layer", "4294967296"}); }},
        {"layer-negative", "`--layer -1`", 2,
         {"--layer: -1 is out of range: expected an integer in 0..2147483647"},
         [](Ctx& c) { return select_with(c, {"--layer", "-1"}); }},
        {"layer-env-overflow", "`MONA_LAYER=4294967296` in the environment", 2,
         {"MONA_LAYER: 4294967296 is out of range: expected an integer in 0..2147483647"},
         [](Ctx& c) { Plan p = select_with(c, {}); p.env = {{"MONA_LAYER", "4294967296"}}; return p; }},
        {"k-overflow", "`--k 4294967297` (used to narrow to k = 1)", 2,
         {"--k: 4294967297 is out of range: expected an integer in 1..2147483647"},
         [](Ctx& c) { return select_with(c, {"--k", "4294967297"}); }},
        {"threads-overflow", "`--threads 4294967296` (used to narrow to 0 = all cores)", 2,
         {"--threads: 4294967296 is out of range: expected an integer in 0..512"},
         [](Ctx& c) { return select_with(c, {"--threads", "4294967296"}); }},
        {"count-zero", "`--count 0`", 2,
         {"--count: 0 is out of range: expected an integer >= 1"},
         [](Ctx& c) { return select_with(c, {"--count", "0"}); }},
        {"count-overflow", "`--count 99999999999999999999` (beyond 64 bits)", 2,
         {"--count: 99999999999999999999 is out of range: expected an integer >= 1"},
         [](Ctx& c) { return select_with(c, {"--count", "99999999999999999999"}); }},
        {"count-not-integer", "`--count 2.5`", 2,
         {"--count: expected an integer, got '2.5'"},
         [](Ctx& c) { return select_with(c, {"--count", "2.5"}); }},
        {"max-tokens-zero", "`--max-tokens 0`", 2,
         {"--max-tokens: 0 is out of range: expected an integer in 1..2147483647"},
         [](Ctx& c) { return select_with(c, {"--max-tokens", "0"}); }},
        {"batch-tokens-overflow", "`--batch-tokens 2147483648` (used to narrow to -2^31, then be refused as \"must be >= 1\")", 2,
         {"--batch-tokens: 2147483648 is out of range: expected an integer in 1..2147483647"},
         [](Ctx& c) { return select_with(c, {"--batch-tokens", "2147483648"}); }},
        {"ratio-nan", "`--ratio nan`", 2,
         {"--ratio: expected a finite number, got 'nan'"},
         [](Ctx& c) { return select_with(c, {"--ratio", "nan"}); }},
        {"ratio-above-one", "`--ratio 1.5`", 2,
         {"--ratio must be in (0, 1], got 1.5"},
         [](Ctx& c) { Plan p = select_with(c, {"--ratio", "1.5"}); drop_flag(p.args, "--count"); return p; }},
        {"count-and-ratio", "`--count 4 --ratio 0.5`", 2,
         {"give --count or --ratio, not both"},
         [](Ctx& c) { return select_with(c, {"--ratio", "0.5"}); }},
        {"duplicate-target", "two `--target`s named `a`", 2,
         {"target name 'a' is given twice"},
         [](Ctx& c) { return select_with(c, {"--target", "a=" + c.shared.target_b}); }},
        {"target-name-slash", "`--target a/b=FILE` (a name with `/`)", 2,
         {"--target 'a/b=", "target name 'a/b' must be letters, digits, '_', '-' or '.'"},
         [](Ctx& c) { return select_with(c, {"--target", "a/b=" + c.shared.target_a}); }},
        {"target-name-dotdot", "`--target ..=FILE`", 2,
         {"target name '..' must be letters, digits, '_', '-' or '.'"},
         [](Ctx& c) { return select_with(c, {"--target", "..=" + c.shared.target_a}); }},
        {"quota-without-merge", "`--quota a=1` without `--merge quota`", 2,
         {"--quota needs --merge quota"},
         [](Ctx& c) { return select_with(c, {"--quota", "a=1"}); }},
        {"embed-shard-rows-zero", "`mona embed --shard-rows 0` (was accepted, though the message says >= 1)", 2,
         {"--shard-rows: 0 is out of range: expected an integer >= 1"},
         [](Ctx& c) {
             return Plan{{"embed", "--model", c.shared.model, "--sae", c.shared.sae, "--pool", c.shared.pool,
                          "--out", c.path("store"), "--shard-rows", "0"}};
         }},
        {"embed-keep-overflow", "`mona embed --keep 4294967296`", 2,
         {"--keep: 4294967296 is out of range: expected an integer in 0..4294967295"},
         [](Ctx& c) {
             return Plan{{"embed", "--model", c.shared.model, "--sae", c.shared.sae, "--pool", c.shared.pool,
                          "--out", c.path("store"), "--keep", "4294967296"}};
         }},
        {"embed-shard-spec", "`mona embed --shard 3/2`", 2,
         {"--shard '3/2': expected I/N with 0 <= I < N"},
         [](Ctx& c) {
             return Plan{{"embed", "--model", c.shared.model, "--sae", c.shared.sae, "--pool", c.shared.pool,
                          "--out", c.path("store"), "--shard", "3/2"}};
         }},
        {"merge-shard-rows-negative", "`mona merge --shard-rows -1` (was silently clamped)", 2,
         {"--shard-rows: -1 is out of range: expected an integer >= 1"},
         [](Ctx& c) {
             return Plan{{"merge", "--store", c.path("s0"), "--store", c.path("s1"), "--out", c.path("merged"),
                          "--shard-rows", "-1"}};
         }},
        {"eval-seed-negative", "`mona eval --seed -1`", 2,
         {"--seed: -1 is out of range: expected an integer >= 0"},
         [](Ctx& c) {
             return Plan{{"eval", "--model", c.shared.model, "--sae", c.shared.sae, "--pool", c.shared.pool,
                          "--target", "math=" + c.shared.target_a, "--out", c.path("out"), "--seed", "-1"}};
         }},
        {"train-lr-inf", "`mona train-sae --lr inf`", 2,
         {"--lr: expected a finite number, got 'inf'"},
         [](Ctx& c) {
             return Plan{{"train-sae", "--model", c.shared.model, "--input", c.shared.target_a, "--out",
                          c.path("train"), "--lr", "inf"}};
         }},
        {"train-epochs-zero", "`mona train-sae --epochs 0`", 2,
         {"--epochs: 0 is out of range: expected an integer >= 1"},
         [](Ctx& c) {
             return Plan{{"train-sae", "--model", c.shared.model, "--input", c.shared.target_a, "--out",
                          c.path("train"), "--epochs", "0"}};
         }},

        {"select-no-pool", "`mona select` without `--pool`", 2,
         {"--pool FILE is required by `mona select`"},
         [](Ctx& c) { Plan p = select_with(c, {}); drop_flag(p.args, "--pool"); return p; }},
        {"score-no-store", "`mona score` without `--store`", 2,
         {"at least one --store DIR is required by `mona score`"},
         [](Ctx& c) { return Plan{{"score", "--target", "a=" + c.shared.target_a, "--out", c.path("out")}}; }},
        {"train-no-input", "`mona train-sae` without `--input` (exited 1)", 2,
         {"at least one --input FILE is required by `mona train-sae`"},
         [](Ctx& c) { return Plan{{"train-sae", "--model", c.shared.model, "--out", c.path("train")}}; }},
        {"train-buffer-below-batch", "`mona train-sae --buffer-tokens 16 --batch-size 32` (exited 1)", 2,
         {"--buffer-tokens must be >= --batch-size"},
         [](Ctx& c) {
             return Plan{{"train-sae", "--model", c.shared.model, "--input", c.shared.target_a, "--out",
                          c.path("train"), "--layer", "2", "--latents", "64", "--k", "4", "--batch-size", "32",
                          "--buffer-tokens", "16", "--threads", "1", "--quiet"}};
         }},

        // ---- pool and target files (exit 1): file, line and field named
        {"pool-missing", "a `--pool` that does not exist", 1,
         {"{dir}/missing.jsonl: cannot open input: No such file or directory"},
         [](Ctx& c) { return select_pool(c, c.path("missing.jsonl")); }},
        {"pool-directory", "a directory as `--pool`", 1,
         {"{dir}/pool.jsonl", "is a directory"},
         [](Ctx& c) { fs::create_directories(c.path("pool.jsonl")); return select_pool(c, c.path("pool.jsonl")); }},
        {"pool-empty", "an empty pool file (0 bytes)", 1,
         {"pool {dir}/empty.jsonl holds no usable sample"},
         [](Ctx& c) { spit(c.path("empty.jsonl"), ""); return select_pool(c, c.path("empty.jsonl")); }},
        {"pool-blank-lines", "a pool of blank lines only", 1,
         {"pool {dir}/blank.jsonl holds no usable sample"},
         [](Ctx& c) { spit(c.path("blank.jsonl"), "\n  \n\t\n"); return select_pool(c, c.path("blank.jsonl")); }},
        {"pool-wrong-field-type", "a pool line whose `messages[0].content` is a number", 1,
         {"{dir}/pool.jsonl:3: field messages[0].content: expected string, found number", "--skip-bad"},
         [](Ctx& c) {
             return select_pool(c, pool_with_line(c, "pool.jsonl", 3,
                                                  R"({"id": "bad", "messages": [{"role": "user", "content": 5}]})"));
         }},
        {"pool-bad-json", "a pool line that is not JSON (unterminated string)", 1,
         {"{dir}/pool.jsonl:5:", "--skip-bad"},
         [](Ctx& c) {
             return select_pool(c, pool_with_line(c, "pool.jsonl", 5, R"({"messages": [{"role": "user", "content": "oops)"));
         }},
        {"pool-invalid-utf8", "a pool line with invalid UTF-8 (byte 0xFF) in a string", 1,
         {"{dir}/pool.jsonl:2: malformed JSON", "ill-formed UTF-8 byte; last read: '\"caf\\xFF'"},
         [](Ctx& c) {
             return select_pool(c, pool_with_line(c, "pool.jsonl", 2,
                                                  "{\"text\": \"caf\xff au lait\"}"));
         }},
        {"pool-not-object", "a pool line that is a number, not an object", 1,
         {"{dir}/pool.jsonl:4:", "expected a JSON object"},
         [](Ctx& c) { return select_pool(c, pool_with_line(c, "pool.jsonl", 4, "42")); }},
        {"pool-unknown-format", "a pool record in no known format (`{\"foo\": 1}`)", 1,
         {"{dir}/pool.jsonl:6:"},
         [](Ctx& c) { return select_pool(c, pool_with_line(c, "pool.jsonl", 6, R"({"foo": 1})")); }},
        {"pool-unterminated-array", "a pool that is a JSON array without its closing `]`", 1,
         {"{dir}/pool.json:1:", "unterminated JSON array"},
         [](Ctx& c) {
             std::string text = "[";
             for (size_t line_idx = 0; line_idx < 3; ++line_idx) text += c.shared.pool_lines[line_idx] + ",";
             spit(c.path("pool.json"), text);
             return select_pool(c, c.path("pool.json"));
         }},
        {"pool-truncated-gzip", "a gzip pool cut short (its last 100 bytes missing)", 1,
         {"{dir}/pool.jsonl.gz:", "truncated gzip stream"},
         [](Ctx& c) {
             const std::string gz = c.path("pool.jsonl.gz");
             const std::string cmd = "gzip -c " + fixtures::shell_quote(c.shared.pool) + " > " + fixtures::shell_quote(gz);
             if (std::system(cmd.c_str()) != 0) {
                 Plan p;
                 p.skip = "gzip is not available";
                 return p;
             }
             fs::resize_file(gz, fs::file_size(gz) - 100);
             return select_pool(c, gz);
         }},
        {"pool-100mb-line", "a pool whose line 2 is 100 MB long (over the 64 MiB record limit)", 1,
         {"{dir}/long.jsonl:2: record longer than 64 MiB"},
         [](Ctx& c) {
             std::ofstream out(c.path("long.jsonl"), std::ios::binary);
             out << c.shared.pool_lines[0] << "\n{\"text\": \"";
             const std::string block(1 << 20, 'a');
             for (int mb = 0; mb < 100; ++mb) out << block;
             out << "\"}\n";
             out.close();
             return select_pool(c, c.path("long.jsonl"));
         }},
        {"target-missing", "a `--target` file that does not exist", 1,
         {"{dir}/nope.jsonl: cannot open input: No such file or directory"},
         [](Ctx& c) { return select_with(c, {"--target", "c=" + c.path("nope.jsonl")}); }},
        {"target-empty", "an empty target file", 1,
         {"target 'c': {dir}/empty.jsonl holds no usable exemplar"},
         [](Ctx& c) { spit(c.path("empty.jsonl"), ""); return select_with(c, {"--target", "c=" + c.path("empty.jsonl")}); }},
        {"target-bad-line", "a target file whose line 2 has `messages` as a string", 1,
         {"{dir}/target.jsonl:2: field messages", "--skip-bad"},
         [](Ctx& c) {
             std::string text = slurp(c.shared.target_a);
             const std::string first = text.substr(0, text.find('\n') + 1);
             spit(c.path("target.jsonl"), first + R"({"messages": "hello"})" + "\n");
             return select_with(c, {"--target", "c=" + c.path("target.jsonl")});
         }},

        {"eval-pool-wrong-field-type", "`mona eval` on a pool line whose `messages[0].content` is a number", 1,
         {"{dir}/pool.jsonl:3: field messages[0].content: expected string, found number", "--skip-bad"},
         [](Ctx& c) {
             return Plan{{"eval", "--model", c.shared.model, "--sae", c.shared.sae, "--pool",
                          pool_with_line(c, "pool.jsonl", 3,
                                         R"({"id": "bad", "messages": [{"role": "user", "content": 5}]})"),
                          "--target", "math=" + c.shared.target_a, "--out", c.path("out"), "--threads", "1",
                          "--quiet"}};
         }},
        {"train-corpus-wrong-field-type", "`mona train-sae` on a corpus line whose `messages[0].content` is a number",
         1, {"{dir}/corpus.jsonl:3: field messages[0].content: expected string, found number"},
         [](Ctx& c) {
             return Plan{{"train-sae", "--model", c.shared.model, "--input",
                          pool_with_line(c, "corpus.jsonl", 3,
                                         R"({"id": "bad", "messages": [{"role": "user", "content": 5}]})"),
                          "--out", c.path("train"), "--layer", "2", "--latents", "64", "--k", "4", "--batch-size",
                          "32", "--buffer-tokens", "64", "--threads", "1", "--quiet"}};
         }},

        // ---- model files (exit 1)
        {"model-directory", "a directory as `--model`", 1,
         {"model {dir}/model.gguf is a directory, expected a .gguf file"},
         [](Ctx& c) {
             fs::create_directories(c.path("model.gguf"));
             Plan p = select_with(c, {});
             p.args[2] = c.path("model.gguf");
             return p;
         }},
        {"model-missing", "a `--model` that does not exist", 1,
         {"model file {dir}/none.gguf does not exist"},
         [](Ctx& c) { Plan p = select_with(c, {}); p.args[2] = c.path("none.gguf"); return p; }},
        {"model-truncated", "a GGUF model cut to half its size", 1,
         {"cannot load model {dir}/half.gguf: not a GGUF file llama.cpp can read"},
         [](Ctx& c) {
             fs::copy_file(c.shared.model, c.path("half.gguf"));
             fs::resize_file(c.path("half.gguf"), fs::file_size(c.shared.model) / 2);
             Plan p = select_with(c, {});
             p.args[2] = c.path("half.gguf");
             return p;
         }},
        {"model-empty", "an empty (0-byte) model file", 1,
         {"cannot load model {dir}/empty.gguf: not a GGUF file llama.cpp can read"},
         [](Ctx& c) { spit(c.path("empty.gguf"), ""); Plan p = select_with(c, {}); p.args[2] = c.path("empty.gguf"); return p; }},
        {"model-not-gguf", "a text file as `--model`", 1,
         {"cannot load model {dir}/notes.gguf: not a GGUF file llama.cpp can read"},
         [](Ctx& c) {
             spit(c.path("notes.gguf"), "this is not a model\n");
             Plan p = select_with(c, {});
             p.args[2] = c.path("notes.gguf");
             return p;
         }},
        {"layer-beyond-model", "`mona activations --layer 9` on a 3-layer model", 1,
         {"layer 9", "{root}/model/tiny.gguf"},
         [](Ctx& c) {
             return Plan{{"activations", "--model", c.shared.model, "--input", c.shared.target_a, "--out",
                          c.path("acts.safetensors"), "--layer", "9"}};
         }},

        // ---- SAE folders (exit 1)
        {"sae-nan-weight", "an SAE whose `encoder.weight[3, 5]` is NaN", 1,
         {"{dir}/sae/layers.1/sae.safetensors: tensor 'encoder.weight': element [3, 5] is NaN"},
         [](Ctx& c) {
             const std::string sae = copy_sae(c);
             poke_f32(sae + "/sae.safetensors", "encoder.weight", 3 * 64 + 5, std::nanf(""));
             Plan p = select_with(c, {});
             p.args[4] = sae;
             return p;
         }},
        {"sae-inf-bias", "an SAE whose `b_dec[7]` is +Inf", 1,
         {"{dir}/sae/layers.1/sae.safetensors: tensor 'b_dec': element [7] is +Inf"},
         [](Ctx& c) {
             const std::string sae = copy_sae(c);
             poke_f32(sae + "/sae.safetensors", "b_dec", 7, INFINITY);
             Plan p = select_with(c, {});
             p.args[4] = sae;
             return p;
         }},
        {"sae-width-mismatch", "an SAE with d_in 32 for a model with n_embd 64", 1,
         {"SAE {dir}/sae/layers.1 reads vectors of width d_in = 32", "has n_embd = 64"},
         [](Ctx& c) {
             Result<fixtures::TinySae> sae = fixtures::write_tiny_sparsify_sae(c.path("sae"), 32, 64, 4, 9, "layers.1");
             Plan p = select_with(c, {});
             p.args[4] = sae.ok() ? sae->folder : "";
             return p;
         }},
        {"sae-cfg-wrong-type", "an SAE `cfg.json` whose `k` is a string", 1,
         {"{dir}/sae/layers.1/cfg.json: field 'k'", "string"},
         [](Ctx& c) {
             const std::string sae = copy_sae(c);
             nlohmann::json cfg = nlohmann::json::parse(slurp(sae + "/cfg.json"));
             cfg["k"] = "eight";
             spit(sae + "/cfg.json", cfg.dump(2));
             Plan p = select_with(c, {});
             p.args[4] = sae;
             return p;
         }},
        {"sae-truncated-weights", "an SAE whose `sae.safetensors` is cut to 100 bytes", 1,
         {"{dir}/sae/layers.1/sae.safetensors"},
         [](Ctx& c) {
             const std::string sae = copy_sae(c);
             fs::resize_file(sae + "/sae.safetensors", 100);
             Plan p = select_with(c, {});
             p.args[4] = sae;
             return p;
         }},
        {"sae-missing", "a `--sae` folder that does not exist", 1,
         {"{dir}/no-sae: no such file or folder"},
         [](Ctx& c) { Plan p = select_with(c, {}); p.args[4] = c.path("no-sae"); return p; }},
        {"k-beyond-sae", "`--k 300` for an SAE of 256 latents", 1,
         {"--k 300 is larger than the SAE width 256"},
         [](Ctx& c) { return select_with(c, {"--k", "300"}); }},

        // ---- train-sae --resume state (exit 1): used to end in std::terminate on a wrong type
        {"train-state-config-number", "`train_state.json` whose `config` is a number", 1,
         {"{dir}/train/train_state.json: field 'config': expected an object, found number"},
         [](Ctx& c) {
             const std::string out = copy_trained(c);
             spit(out + "/train_state.json", R"({"config": 5, "epochs_done": 1})");
             return resume_from(c, out);
         }},
        {"train-state-epochs-string", "`train_state.json` whose `epochs_done` is a string", 1,
         {"{dir}/train/train_state.json: field 'epochs_done': expected an integer >= 0, found \"two\""},
         [](Ctx& c) {
             const std::string out = copy_trained(c);
             nlohmann::json state = nlohmann::json::parse(slurp(out + "/train_state.json"));
             state["epochs_done"] = "two";
             spit(out + "/train_state.json", state.dump(2));
             return resume_from(c, out);
         }},
        {"train-state-array", "`train_state.json` that is a JSON array", 1,
         {"{dir}/train/train_state.json: expected a JSON object, found array"},
         [](Ctx& c) {
             const std::string out = copy_trained(c);
             spit(out + "/train_state.json", "[1, 2]");
             return resume_from(c, out);
         }},
        {"train-state-not-json", "`train_state.json` cut mid-way (not JSON)", 1,
         {"{dir}/train/train_state.json: not valid JSON"},
         [](Ctx& c) {
             const std::string out = copy_trained(c);
             const std::string text = slurp(out + "/train_state.json");
             spit(out + "/train_state.json", text.substr(0, text.size() / 2));
             return resume_from(c, out);
         }},
        {"train-checkpoint-truncated", "a `checkpoint.bin` cut to 1000 bytes", 1,
         {"{dir}/train/checkpoint.bin: file has 1000 bytes"},
         [](Ctx& c) {
             const std::string out = copy_trained(c);
             fs::resize_file(out + "/checkpoint.bin", 1000);
             return resume_from(c, out);
         }},

        // ---- stores (exit 1)
        {"score-store-missing", "`mona score --store` of a folder that is no store", 1,
         {"{dir}/empty-store"},
         [](Ctx& c) {
             fs::create_directories(c.path("empty-store"));
             return Plan{{"score", "--store", c.path("empty-store"), "--target", "a=" + c.shared.target_a, "--out",
                          c.path("out")}};
         }},

        // ---- where the outputs go (exit 1)
        {"out-under-a-file", "`--out` below a regular file", 1,
         {"--out {dir}/file/out: {dir}/file exists and is not a directory"},
         [](Ctx& c) { spit(c.path("file"), "x\n"); return Plan{select_args(c.shared, c.shared.pool, c.path("file/out"))}; }},
        {"out-read-only", "`--out` on a read-only file system (tmpfs mounted `ro`; root only)", 1,
         {"--out {dir}/ro/out: cannot create directory {dir}/ro/out: Read-only file system"},
         [](Ctx& c) {
             Plan p{select_args(c.shared, c.shared.pool, c.path("ro/out"))};
             p.skip = mount_tmpfs(c.path("ro"), "ro,size=1m");
             p.after = [](Ctx& ctx) { unmount(ctx.path("ro")); };
             return p;
         }},
        {"out-disk-full", "`--out` on a full disk (a 64 KiB tmpfs; root only)", 1,
         {"{dir}/full/out/", "No space left on device"},
         [](Ctx& c) {
             Plan p{select_args(c.shared, c.shared.pool, c.path("full/out"), {"--shard-rows", "1"})};
             p.skip = mount_tmpfs(c.path("full"), "size=64k");
             p.after = [](Ctx& ctx) { unmount(ctx.path("full")); };
             return p;
         }},
        {"activations-out-under-a-file", "`mona activations --out` below a regular file", 1,
         {"{dir}/file/acts.safetensors"},
         [](Ctx& c) {
             spit(c.path("file"), "x\n");
             return Plan{{"activations", "--model", c.shared.model, "--input", c.shared.target_a, "--out",
                          c.path("file/acts.safetensors")}};
         }},

        // ---- while the run runs (exit 1)
        {"pool-changed-during-run", "the pool file rewritten while the run embeds it", 1,
         {"pool {dir}/pool.jsonl changed during the run", "nothing was written"},
         [](Ctx& c) {
             fs::copy_file(c.shared.big_pool, c.path("pool.jsonl"));
             Plan p{select_args(c.shared, c.path("pool.jsonl"), c.path("out"), {"--shard-rows", "1"})};
             p.during = [](Ctx& ctx, pid_t pid) {
                 // Once the first shard of the pool is stored, stop the run, change one record, let it go on.
                 const std::string shard = ctx.path("out/.store/shard-00000.bin");
                 ASSERT_TRUE(wait_until([&] { return fs::exists(shard); })) << "the run never stored a shard";
                 ::kill(pid, SIGSTOP);
                 const std::string text = slurp(ctx.path("pool.jsonl"));
                 spit(ctx.path("pool.jsonl"), replace_all(text, "\"task\": \"math\"", "\"task\": \"algebra\""));
                 ctx.expect_as_now(ctx.path("pool.jsonl"));
                 ::kill(pid, SIGCONT);
             };
             return p;
         }},
        {"second-run-same-out", "a second `mona select` into the `--out` of a run still running", 1,
         {"--out {dir}/out: another mona run (pid ", "is writing into this folder ({dir}/out/.mona-run.lock is locked)"},
         [](Ctx& c) {
             // The first run is started here and stopped while it holds the folder; the row's run is the second.
             const auto first = std::make_shared<fixtures::RunningBinary>(fixtures::start_binary(
                 MONA_BIN, select_args(c.shared, c.shared.big_pool, c.path("out")), c.shared.scratch));
             const std::string lock = c.path("out/.mona-run.lock");
             const bool held = wait_until([&] { return fs::exists(lock) && !slurp(lock).empty(); });
             if (held) ::kill(first->pid, SIGSTOP);
             Plan p{select_args(c.shared, c.shared.big_pool, c.path("out"))};
             if (!held) p.skip = "the first run never took the lock (it ended first?)";
             p.after = [first](Ctx&) {
                 ::kill(first->pid, SIGCONT);
                 const RunResult run = fixtures::finish_binary(*first);
                 EXPECT_EQ(0, run.exit_code) << "the first run must finish unharmed:\n" << run.err;
             };
             return p;
         }},
    };
    // clang-format on
    return cases;
}

std::string render_message(const Case& row) {
    std::string text;
    for (const auto& piece : row.expect) {
        text += (text.empty() ? "" : " … ") + replace_all(replace_all(piece, "{dir}", "<dir>"), "{root}", "<root>");
    }
    return replace_all(text, "|", "\\|");
}

// The table of docs/errors.md, rendered from catalogue().
std::string render_table() {
    std::string out = "| # | case | bad input | exit | message (mona: error: ...) |\n|---|---|---|---|---|\n";
    int row_idx = 0;
    for (const Case& row : catalogue()) {
        out += "| " + std::to_string(++row_idx) + " | `" + row.name + "` | " + replace_all(row.input, "|", "\\|") +
               " | " + std::to_string(row.exit_code) + " | `" + render_message(row) + "` |\n";
    }
    return out;
}

class ErrorCatalogue : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        // Set MONA_KEEP_TEST_DIR=1 to keep the temporary folder (the rows' folders go as each row ends).
        keep_dir_ = std::getenv("MONA_KEEP_TEST_DIR") != nullptr;
        fixtures::unset_mona_environment();  // no flag may come from a MONA_* variable (but the row's own)
        shared_ = new Shared;
        Shared& s = *shared_;
        s.root = fixtures::make_temp_dir("mona-errors");
        ASSERT_FALSE(s.root.empty());
        s.scratch = s.root + "/scratch";
        fs::create_directories(s.scratch);
        fs::create_directories(s.root + "/model");
        s.model = s.root + "/model/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 3;
        const Status model = fixtures::write_tiny_llama_gguf(s.model, spec);
        ASSERT_TRUE(model.ok()) << model.message();
        Result<fixtures::TinySae> sae = fixtures::write_tiny_sparsify_sae(s.root + "/sae", 64, 256, 8, 7, "layers.1");
        ASSERT_TRUE(sae.ok()) << sae.status().message();
        s.sae = sae->folder;
        s.pool = s.root + "/pool.jsonl";
        Result<std::vector<std::string>> lines = fixtures::write_jsonl(s.pool, fixtures::make_labelled_pool(10));
        ASSERT_TRUE(lines.ok()) << lines.status().message();
        s.pool_lines = lines.value();
        s.big_pool = s.root + "/big_pool.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(s.big_pool, fixtures::make_labelled_pool(50)).ok());
        s.target_a = s.root + "/target_math.jsonl";
        s.target_b = s.root + "/target_cooking.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(s.target_a, fixtures::make_target_exemplars("math", 5)).ok());
        ASSERT_TRUE(fixtures::write_jsonl(s.target_b, fixtures::make_target_exemplars("cooking", 5)).ok());

        // One completed epoch of a small SAE, for the --resume rows.
        s.trained = s.root + "/trained";
        s.train_args = {"--model",         s.model, "--input",   s.pool, "--layer",      "2",
                        "--latents",       "64",    "--k",       "4",    "--batch-size", "32",
                        "--buffer-tokens", "64",    "--threads", "1",    "--quiet"};
        std::vector<std::string> args = {"train-sae"};
        args.insert(args.end(), s.train_args.begin(), s.train_args.end());
        args.insert(args.end(), {"--out", s.trained});
        const RunResult trained = fixtures::run_binary(MONA_BIN, args, s.scratch);
        ASSERT_EQ(0, trained.exit_code) << trained.err;
        ASSERT_TRUE(fs::exists(s.trained + "/checkpoint.bin"));
        ASSERT_TRUE(fs::exists(s.trained + "/train_state.json"));
    }

    static void TearDownTestSuite() {
        if (shared_ != nullptr && !keep_dir_) {
            std::error_code ec;
            fs::remove_all(shared_->root, ec);
        }
        delete shared_;
        shared_ = nullptr;
    }

    void SetUp() override {
        if (shared_ == nullptr || shared_->root.empty()) GTEST_SKIP() << "fixture setup failed";
    }

    static Shared* shared_;
    static bool keep_dir_;
};

Shared* ErrorCatalogue::shared_ = nullptr;
bool ErrorCatalogue::keep_dir_ = false;

TEST_F(ErrorCatalogue, EveryBadInputFailsCleanlyNamingWhere) {
    const Shared& s = *shared_;
    std::vector<std::string> skipped;
    int row_idx = 0;
    for (const Case& row : catalogue()) {
        SCOPED_TRACE("row " + std::to_string(++row_idx) + " `" + row.name + "`: " + row.input);
        Ctx ctx{s, s.root + "/case-" + std::to_string(row_idx) + "-" + row.name, {}};
        fs::create_directories(ctx.dir);
        Plan plan = row.setup(ctx);
        // after() runs however the row ends (an ASSERT returns early): it unmounts and reaps background runs.
        struct AfterGuard {
            Plan& plan;
            Ctx& ctx;
            ~AfterGuard() {
                if (plan.after) std::exchange(plan.after, nullptr)(ctx);
            }
        } after_guard{plan, ctx};
        if (!plan.skip.empty()) {
            skipped.push_back(row.name + " (" + plan.skip + ")");
            continue;
        }
        ctx.before = snapshot(ctx.dir);
        const auto t_start = std::chrono::steady_clock::now();
        RunResult run;
        if (plan.during) {
            const fixtures::RunningBinary running = fixtures::start_binary(MONA_BIN, plan.args, s.scratch, plan.env);
            ASSERT_GT(running.pid, 0);
            plan.during(ctx, running.pid);
            run = fixtures::finish_binary(running);
        } else {
            const fixtures::RunningBinary running = fixtures::start_binary(MONA_BIN, plan.args, s.scratch, plan.env);
            ASSERT_GT(running.pid, 0);
            run = fixtures::finish_binary(running);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

        EXPECT_LT(run.exit_code, 128) << "killed by signal " << run.exit_code - 128 << "; stderr:\n" << run.err;
        EXPECT_EQ(row.exit_code, run.exit_code) << "stderr:\n" << run.err;
        EXPECT_NE(std::string::npos, run.err.find("mona: error: ")) << run.err;
        EXPECT_EQ(std::string::npos, run.err.find("this is a bug in mona")) << run.err;
        for (const std::string& piece : row.expect) {
            const std::string expected = replace_all(replace_all(piece, "{dir}", ctx.dir), "{root}", s.root);
            EXPECT_NE(std::string::npos, run.err.find(expected)) << "expected: " << expected << "\nstderr:\n"
                                                                 << run.err;
        }
        EXPECT_TRUE(run.out.empty()) << "stdout:\n" << run.out;
        EXPECT_TRUE(is_utf8(run.err)) << "the message carries ill-formed UTF-8:\n" << run.err;
        const std::map<std::string, std::string> after = snapshot(ctx.dir);
        for (const auto& [path, entry] : after) {
            auto it = ctx.before.find(path);
            EXPECT_TRUE(it != ctx.before.end()) << "written by the failed run: " << path;
            if (it != ctx.before.end()) {
                EXPECT_EQ(it->second, entry) << "changed by the failed run: " << path;
            }
        }
        for (const auto& [path, entry] : ctx.before) EXPECT_EQ(1u, after.count(path)) << "removed by the run: " << path;
        if (plan.after) std::exchange(plan.after, nullptr)(ctx);  // before the row's folder goes (mounts)
        const std::string message = replace_all(run.err.substr(0, run.err.find('\n')), ctx.dir, "<dir>");
        std::printf("  %-30s exit %d  %5.2f s  %s\n", row.name.c_str(), run.exit_code, seconds, message.c_str());
        std::error_code ec;
        fs::remove_all(ctx.dir, ec);  // the 100 MB line and the model copies
    }
    if (!skipped.empty()) {
        std::string list;
        for (const auto& name : skipped) list += "\n  " + name;
        GTEST_SKIP() << "ran " << catalogue().size() - skipped.size() << " of " << catalogue().size()
                     << " rows; skipped:" << list;
    }
}

TEST(ErrorCatalogueDoc, DocumentMatchesTheTable) {
    EXPECT_GE(catalogue().size(), 40u);
    std::map<std::string, int> seen;
    for (const Case& row : catalogue()) EXPECT_EQ(1, ++seen[row.name]) << "row name used twice: " << row.name;

    const std::string path = std::string(MONA_SOURCE_DIR) + "/docs/errors.md";
    std::string doc = fixtures::read_file(path);
    const std::string begin = "<!-- errors-table:begin -->\n";
    const std::string end = "<!-- errors-table:end -->";
    const size_t a = doc.find(begin);
    const size_t b = doc.find(end);
    ASSERT_NE(std::string::npos, a) << path;
    ASSERT_NE(std::string::npos, b) << path;
    const std::string table = render_table();
    if (std::getenv("MONA_UPDATE_ERRORS_DOC") != nullptr) {
        doc.replace(a + begin.size(), b - a - begin.size(), table);
        std::ofstream(path, std::ios::binary | std::ios::trunc) << doc;
        return;
    }
    EXPECT_EQ(table, doc.substr(a + begin.size(), b - a - begin.size()))
        << "regenerate the table: MONA_UPDATE_ERRORS_DOC=1 build/bin/mona_integration_tests "
           "--gtest_filter='ErrorCatalogueDoc.*'";
}

}  // namespace
}  // namespace mona
