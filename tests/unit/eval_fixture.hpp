// A hand-computed `mona eval` input shared by the metrics (eval_metrics_test.cpp) and rendering
// (eval_report_test.cpp) tests.
#pragma once

#include <string>
#include <vector>

#include "eval/metrics.hpp"

namespace mona::test {

// A pool of 8, two methods, two targets, n = 3:
//   pos     0     1     2     3     4     5     6     7
//   label   math  math  code  chat  math  code  ""    chat
//   tokens  10    20    30    40    50    60    70    80
//   record  0     1     2     4     5     6     7     8      (record 3 was skipped)
// target math:  mona selects 0 1 4 (3 hits: precision 1, recall 3/3)  random 3 2 7 (0 hits)
// target code:  mona selects 5 2 4 (2 hits: 2/3, recall 2/2)          random 3 2 7 (1 hit: 1/3, recall 1/2)
inline EvalInput tiny_eval_input() {
    EvalInput in;
    in.methods = {"mona", "random"};
    in.pool_labels = {"math", "math", "code", "chat", "math", "code", "", "chat"};
    in.pool_token_counts = {10, 20, 30, 40, 50, 60, 70, 80};
    in.pool_records = {0, 1, 2, 4, 5, 6, 7, 8};
    in.pool_ids = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"};
    const std::vector<std::string> texts = {"One two three", "one two two", "x y", "x",
                                            "one",           "code code",   "z",   "hello world"};
    for (uint64_t pos = 0; pos < texts.size(); ++pos) {
        in.texts.emplace_back(pos, texts[pos]);
        in.snippets.emplace_back(pos, pos == 4 ? "<b>bold</b> & co" : texts[pos]);
        std::string normalised = texts[pos];
        for (char& c : normalised) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        in.normalised.emplace_back(pos, normalised);
    }
    in.n_select = 3;
    EvalTargetInput math;
    math.name = "math";
    math.token_counts = {12, 18};
    math.runs = {{{0.9, 0.8, 0.1, 0.2, 0.7, 0.0, 0.0, 0.0}, {0, 1, 4}}, {{}, {3, 2, 7}}};
    math.latents = {{5, 0.5, 0.25, {{0, 1.5}, {4, 0.7}}}, {9, 0.25, 0.125, {}}};
    EvalTargetInput code;
    code.name = "code";
    code.token_counts = {30};
    code.runs = {{{0.0, 0.0, 0.5, 0.0, 0.1, 0.6, 0.0, 0.0}, {5, 2, 4}}, {{}, {3, 2, 7}}};
    in.targets = {math, code};
    in.settings = {{"model", "tiny.gguf"}, {"<key>", "a&b"}};
    in.config = {{"seed", 0}};
    return in;
}

}  // namespace mona::test
