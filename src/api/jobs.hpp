// api/jobs.hpp: the conversions behind the public jobs facade (include/mona/jobs.hpp): its plain option structs
// into the jobs' internal configs, and the summaries back. Internal (tests check the defaults agree with it).
#pragma once

#include "eval/eval.hpp"
#include "jobs/config.hpp"
#include "jobs/embed.hpp"
#include "jobs/score.hpp"
#include "jobs/select.hpp"
#include "mona/jobs.hpp"

namespace mona::api {

// Parses the string-valued settings; errors are kInvalidInput naming the field, as the flags' errors do.
// fill_default_paths: "" model/SAE paths become the default model and SAE (every job but score).
Result<SelectConfig> to_select_config(const SelectJobOptions& options, bool fill_default_paths);
Result<EvalConfig> to_eval_config(const EvalJobOptions& options);

SelectJobResult from_select_summary(const SelectSummary& summary);
EmbedJobResult from_embed_summary(const EmbedSummary& summary);
EvalJobResult from_eval_summary(const EvalSummary& summary);

}  // namespace mona::api
