// mona demo: the built-in end-to-end run. Writes the project's own multi-task demo pool (8 task families,
// labelled) and exemplar sets for four target tasks, selects with the default model and SAE (or --model/--sae),
// prints the family composition of each selection against the pool and writes report.html.
#include <fmt/format.h>

#include <filesystem>

#include "commands.hpp"
#include "demo/demo_corpus.hpp"
#include "io/atomic_file.hpp"
#include "jobs/select.hpp"

namespace mona::cli {

namespace {

constexpr int kPoolPerFamily = 40;
constexpr int kExemplars = 8;
const char* const kDemoTargets[] = {"math_word_problems", "code_generation", "translation", "sentiment_classification"};

Status run_demo(const ParsedArgs& args, std::string& table) {
    MONA_TRY(SelectConfig config, select_config_from_args(args));
    config.command_line = args.command_line;
    if (config.progress) {  // the generated pool's size is known: progress lines with percentage and ETA
        config.progress = progress_with_total(static_cast<int64_t>(demo_families().size()) * kPoolPerFamily);
    }
    // Without --ratio, the demo selects a count (the table's default for demo's --count).
    if (!args.has("ratio")) config.count = args.get_int("count");
    const std::string inputs = config.out_dir + "/inputs";
    MONA_RETURN_IF_ERROR(ensure_dir(inputs));
    config.pool_path = inputs + "/pool.jsonl";
    MONA_RETURN_IF_ERROR(write_file_atomic(config.pool_path, to_jsonl(demo_pool(/*seed=*/1, kPoolPerFamily))));
    for (const char* task : kDemoTargets) {
        const std::string path = fmt::format("{}/target_{}.jsonl", inputs, task);
        MONA_RETURN_IF_ERROR(write_file_atomic(path, to_jsonl(demo_targets(task, /*seed=*/1, kExemplars))));
        config.targets.push_back({task, path});
    }
    MONA_TRY(SelectSummary summary, run_select(config));
    table = render_text_table(summary.report);
    table += fmt::format("\npool: {} samples of {} families; {} tokens; layer {}; {:.1f} s\nreport: {}/report.html\n",
                         summary.n_pool_read, demo_families().size(), summary.n_pool_tokens, summary.layer,
                         summary.seconds_total, config.out_dir);
    return Status();
}

}  // namespace

CommandResult cmd_demo(const ParsedArgs& args) {
    if (Status usage = check_out_folder(args); !usage.ok()) return usage_error(usage);
    // A failed demo leaves no --out it created (its inputs/ are written before the run).
    std::error_code ec;
    const bool out_existed = std::filesystem::exists(args.get("out"), ec);
    std::string table;
    Status status = run_demo(args, table);
    if (!status.ok()) {
        if (!out_existed) std::filesystem::remove_all(args.get("out"), ec);
        return status;
    }
    std::fputs(table.c_str(), stdout);
    return {};
}

}  // namespace mona::cli
