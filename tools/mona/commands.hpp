// commands.hpp: one function per `mona <verb>`; each returns the process exit code.
#pragma once

#include <string>

#include "capture/session.hpp"
#include "cli/flags.hpp"
#include "jobs/progress.hpp"
#include "mona/status.hpp"

namespace mona {
struct SelectConfig;
struct SelectSummary;
}  // namespace mona

namespace mona::cli {

int cmd_select(const ParsedArgs& args, const std::string& command_line);
int cmd_info(const ParsedArgs& args);
int cmd_activations(const ParsedArgs& args);
int cmd_train_sae(const ParsedArgs& args);
int cmd_demo(const ParsedArgs& args, const std::string& command_line);
int cmd_eval(const ParsedArgs& args, const std::string& command_line);
int cmd_embed(const ParsedArgs& args);
int cmd_score(const ParsedArgs& args, const std::string& command_line);
int cmd_merge(const ParsedArgs& args);

// Prints "mona: error: <message>" and returns the exit code for the status (2 for usage errors flagged by the
// caller, else 1).
int report_error(const Status& status);
void warn(const std::string& message);
// The callbacks the CLI gives the jobs (jobs/progress.hpp) unless --quiet: "mona: <stage>: N samples, ..." and
// "mona: <message>" lines on stderr.
void print_progress(const ProgressUpdate& update);
void print_log(const std::string& message);

// The typed select configuration from raw flags (cmd_select.cpp; shared by select, demo and eval).
Result<SelectConfig> select_config_from_args(const ParsedArgs& args);
// Prints one line per target (and one for merged/) of a select or score run to stdout (cmd_select.cpp).
void print_selection(const SelectSummary& summary, const std::string& out_dir);

// Model and SAE paths with the built-in defaults filled in. A --model URL is downloaded (and --model-sha256
// checked) here; that failing is the error. A missing local file is left for the model loader to report.
Result<std::string> model_path_arg(const ParsedArgs& args);
std::string sae_path_arg(const ParsedArgs& args);
// --cpu-repack on|off (default off).
Result<bool> cpu_repack_arg(const ParsedArgs& args);
// The model session's options from the flags of a verb that opens a model without a SelectConfig (train-sae,
// activations): --model, --threads, --batch-tokens, --template, --system-prompt, --verbose, --cpu-repack, and
// the per-sample token cap from `max_tokens_flag` (--max-tokens, or train-sae's --doc-tokens).
Result<SessionOptions> session_options_from_args(const ParsedArgs& args, const std::string& max_tokens_flag,
                                                 int32_t default_max_tokens);

}  // namespace mona::cli
