// jobs/progress.hpp: how the jobs report progress and log lines to their caller. The library never prints: a job
// calls the callbacks its config carries (empty = silent), and the caller decides where the text goes (the CLI
// prints "mona: ..." lines to stderr, tools/mona/cmd_common.cpp; a Python binding could drive a progress bar).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace mona {

// One progress report of a model pass: `stage` ("embed", "pool", ...) has run n_samples samples of n_tokens
// tokens in `seconds` since it began. `final` marks the report at the end of the pass.
struct ProgressUpdate {
    std::string_view stage;
    int64_t n_samples = 0;
    uint64_t n_tokens = 0;
    double seconds = 0.0;
    bool final = false;
    int64_t n_total = 0;   // samples the whole pass will hold, when known (0 = unknown): percentage and ETA
    int64_t n_before = 0;  // samples an earlier run already did (a resumed store), counted towards n_total
};
using ProgressFn = std::function<void(const ProgressUpdate&)>;

// The text of one update, as the CLI prints it after "mona: ": "pool: 17 samples, 4463 tokens, 215 tokens/s, 21 s";
// with n_total (tqdm's habit) "embed: 117/1000 samples (11.7%), 4463 tokens, 215 tokens/s, 21 s, ETA 2 min 38 s"
// (the ETA from this run's own rate over the samples left).
std::string progress_line(const ProgressUpdate& update);

// A human-readable message of a job (one or more lines, no trailing newline), e.g. train-sae's step lines.
using LogFn = std::function<void(const std::string& message)>;

namespace detail {

// Calls `fn` at most every 5 s (and always for a forced, final update); nothing when fn is empty.
class Progress {
   public:
    Progress(ProgressFn fn, std::string what) : fn_(std::move(fn)), what_(std::move(what)) {}
    // Samples an earlier run did (a resumed store): reported as ProgressUpdate::n_before.
    void set_before(int64_t n_before) { n_before_ = n_before; }
    void update(int64_t n_samples, uint64_t n_tokens, bool force = false) {
        if (!fn_) return;
        const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        if (!force && now - last_ < 5.0) return;
        last_ = now;
        fn_(ProgressUpdate{what_, n_samples, n_tokens, now, force, 0, n_before_});
    }

   private:
    ProgressFn fn_;
    std::string what_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    double last_ = 0.0;
    int64_t n_before_ = 0;
};

}  // namespace detail
}  // namespace mona
