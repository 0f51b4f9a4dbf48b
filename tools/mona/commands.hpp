// commands.hpp: one function per `mona <verb>` (dispatched from main.cpp's table of them).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "capture/session.hpp"
#include "cli/flags.hpp"
#include "jobs/progress.hpp"
#include "mona/status.hpp"
#include "text/formats.hpp"

namespace mona {
struct SelectConfig;
struct SelectSummary;
}  // namespace mona

namespace mona::cli {

// How a command ended. main() prints the error ("mona: error: <message>") and picks the exit code: the one
// place that does. A Status converts to a failure (exit 1); usage_error() marks a usage error (exit 2).
struct CommandResult {
    Status status;       // ok, or the error
    bool usage = false;  // a usage error (exit 2) rather than a failure (exit 1)
    bool quiet = false;  // not printed here: embed and score print errors on MPI rank 0 only
    CommandResult() = default;
    CommandResult(Status s) : status(std::move(s)) {}  // NOLINT(google-explicit-constructor): failures read as Status
};
CommandResult usage_error(Status status);
// "mona: error: MESSAGE" on stderr: what main() prints for a failed command.
void print_error(const Status& status);

// Refuses (kInvalidInput, a usage error) an existing --out that holds anything besides mona's own working files
// (.store, .mona-*) unless it holds a complete earlier run of the same verb, which a rerun replaces, or
// --overwrite is given: as Hugging Face's output_dir. For select, score, eval and demo.
Status check_out_folder(const ParsedArgs& args);

// Flags the table requires are present when a command runs (check_required); its defaults fill the rest.
using Command = CommandResult (*)(const ParsedArgs& args);
CommandResult cmd_select(const ParsedArgs& args);
CommandResult cmd_info(const ParsedArgs& args);
CommandResult cmd_activations(const ParsedArgs& args);
CommandResult cmd_train_sae(const ParsedArgs& args);
CommandResult cmd_demo(const ParsedArgs& args);
CommandResult cmd_eval(const ParsedArgs& args);
CommandResult cmd_embed(const ParsedArgs& args);
CommandResult cmd_score(const ParsedArgs& args);
CommandResult cmd_merge(const ParsedArgs& args);
CommandResult cmd_check(const ParsedArgs& args);

// "mona: warning: MESSAGE" on stderr (printed even with --quiet).
void warn(const std::string& message);

// What the parse-only pass over a pool found (cmd_pool_check.cpp).
struct PoolCheck {
    int64_t n_records = 0;
    int64_t n_bad = 0;                      // malformed records (counted with skip_bad; else the pass fails)
    std::map<std::string, int64_t> labels;  // task label ("" = none) -> samples
    double seconds = 0.0;
};
// Reads and parses every record of `path` without the model: the first malformed record is an error naming
// path:line and the field (unless skip_bad, which counts it), found before any model pass.
Result<PoolCheck> check_pool_records(const std::string& path, InputFormat format, bool skip_bad);
// "math (30), code (12), ..." (most common first, at most 12).
std::string describe_labels(const PoolCheck& check);
// One message per target whose label (TargetSpec::label, else its name) no pool sample carries.
std::vector<std::string> unlabelled_targets(const SelectConfig& config, const PoolCheck& check);
// The callbacks the CLI gives the jobs (jobs/progress.hpp) unless --quiet: "mona: <stage>: N samples, ..." and
// "mona: <message>" lines on stderr.
void print_progress(const ProgressUpdate& update);
void print_log(const std::string& message);
// print_progress with the pool pass's total (`n_total` samples), so that its lines show a percentage and an ETA.
ProgressFn progress_with_total(int64_t n_total);

// The typed select configuration from raw flags (cmd_select.cpp; shared by select, demo, eval, embed and score).
Result<SelectConfig> select_config_from_args(const ParsedArgs& args);
// Prints one line per target (and one for merged/) of a select or score run to stdout (cmd_select.cpp).
void print_selection(const SelectSummary& summary, const std::string& out_dir);

// The model path (--model, default the built-in model; score: "", the store's). A --model URL is downloaded (and
// --model-sha256 checked) here; that failing is the error. A missing local file is left for the model loader to report.
Result<std::string> model_path_arg(const ParsedArgs& args);
// The built-in SAE's layer when it is installed ($MONA_HOME), else nullopt: select's layer with the built-in
// model and SAE, so activations and info agree with it.
Result<std::optional<int32_t>> default_sae_layer();
// --cpu-repack on|off.
Result<bool> cpu_repack_arg(const ParsedArgs& args);
// The model session's options from the flags of a verb that opens a model without a SelectConfig (train-sae,
// activations): --model, --threads, --batch-tokens, --template, --system-prompt, --verbose, --cpu-repack, and
// the per-sample token cap from `max_tokens_flag` (--max-tokens, or train-sae's --doc-tokens).
Result<SessionOptions> session_options_from_args(const ParsedArgs& args, const std::string& max_tokens_flag);

}  // namespace mona::cli
