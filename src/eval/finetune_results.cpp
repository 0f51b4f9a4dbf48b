// eval/finetune_results.cpp: split rule, statistics and renderings of `mona eval --finetune`
// (eval/finetune_results.hpp).
#include "eval/finetune_results.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report/html_report.hpp"
#include "report/svg.hpp"

namespace mona {

bool is_heldout_exemplar(uint64_t index, int32_t every) {
    return every > 0 && index % static_cast<uint64_t>(every) == static_cast<uint64_t>(every - 1);
}

MeanSe mean_se(const std::vector<double>& values) {
    MeanSe out;
    out.n = static_cast<int64_t>(values.size());
    if (values.empty()) return out;
    double sum = 0.0;
    for (double v : values) sum += v;
    out.mean = sum / static_cast<double>(values.size());
    if (values.size() < 2) return out;
    double ss = 0.0;
    for (double v : values) ss += (v - out.mean) * (v - out.mean);
    out.se = std::sqrt(ss / static_cast<double>(values.size() - 1)) / std::sqrt(static_cast<double>(values.size()));
    return out;
}

std::vector<double> reductions(const FinetuneTarget& target, const std::string& method) {
    std::vector<double> out;
    for (const FinetuneRun& run : target.runs) {
        if (run.method == method) out.push_back(target.base_loss - run.tuned_loss);
    }
    return out;
}

namespace {

constexpr const char* kMona = "mona";

bool has_method(const FinetuneReport& report, const std::string& name) {
    for (const std::string& m : report.methods) {
        if (m == name) return true;
    }
    return false;
}

// Per target: mona's reduction minus `method`'s (its mean over seeds), or nothing when either did not run.
std::vector<double> paired_differences(const FinetuneReport& report, const std::string& method) {
    std::vector<double> out;
    for (const FinetuneTarget& t : report.targets) {
        const MeanSe mona = mean_se(reductions(t, kMona));
        const MeanSe other = mean_se(reductions(t, method));
        if (mona.n == 0 || other.n == 0) continue;
        out.push_back(mona.mean - other.mean);
    }
    return out;
}

// Mean over targets of each target's mean reduction.
std::vector<double> target_means(const FinetuneReport& report, const std::string& method) {
    std::vector<double> out;
    for (const FinetuneTarget& t : report.targets) {
        const MeanSe r = mean_se(reductions(t, method));
        if (r.n > 0) out.push_back(r.mean);
    }
    return out;
}

}  // namespace

nlohmann::json finetune_json(const FinetuneReport& report) {
    const FinetuneOptions& o = report.options;
    nlohmann::json j;
    j["definition"] =
        "per target: start from the same base weights, fine-tune on each method's top samples (random: one run per "
        "seed), loss = mean negative log-likelihood in nats per assistant token (the model's chat template, prompt "
        "tokens not scored) over the target's held-back exemplars, which never enter the prototype; reduction = base "
        "loss - tuned loss (larger is better); paired = mona's reduction - the method's, per target";
    j["options"] = {{"epochs", o.epochs},
                    {"learning_rate", o.learning_rate},
                    {"context_length", o.n_ctx},
                    {"samples_per_selection", o.n_samples},
                    {"random_seeds", o.n_random_seeds},
                    {"heldout_every", o.heldout_every},
                    {"eval_exemplars_max", o.n_eval},
                    {"optimizer", "adamw (beta1 0.9, beta2 0.999, eps 1e-8, no weight decay), one step per sample"}};
    j["methods"] = report.methods;
    j["model"] = report.model;
    j["threads"] = report.n_threads;
    j["seconds"] = report.seconds;
    j["train_tokens"] = report.n_train_tokens;
    j["train_tokens_per_second"] =
        report.seconds > 0 ? static_cast<double>(report.n_train_tokens) / report.seconds : 0.0;
    nlohmann::json targets = nlohmann::json::array();
    for (const FinetuneTarget& t : report.targets) {
        nlohmann::json tj = {{"name", t.name},
                             {"prototype_exemplars", t.n_prototype},
                             {"heldout_exemplars", t.n_heldout},
                             {"eval_tokens", t.n_eval_tokens},
                             {"base_loss", t.base_loss}};
        nlohmann::json methods = nlohmann::json::object();
        for (const std::string& m : report.methods) {
            nlohmann::json runs = nlohmann::json::array();
            std::vector<double> tuned;
            for (const FinetuneRun& run : t.runs) {
                if (run.method != m) continue;
                tuned.push_back(run.tuned_loss);
                runs.push_back({{"seed", run.seed},
                                {"train_samples", run.n_train},
                                {"train_tokens", run.n_train_tokens},
                                {"tuned_loss", run.tuned_loss},
                                {"reduction", t.base_loss - run.tuned_loss},
                                {"seconds", run.seconds}});
            }
            const MeanSe r = mean_se(reductions(t, m));
            methods[m] = {
                {"tuned_loss", mean_se(tuned).mean}, {"reduction", r.mean}, {"reduction_se", r.se}, {"runs", runs}};
        }
        tj["methods"] = methods;
        if (has_method(report, kMona)) {
            nlohmann::json paired = nlohmann::json::object();
            const MeanSe mona = mean_se(reductions(t, kMona));
            for (const std::string& m : report.methods) {
                if (m == kMona) continue;
                paired[m] = mona.mean - mean_se(reductions(t, m)).mean;
            }
            tj["paired_mona_minus"] = paired;
        }
        targets.push_back(tj);
    }
    j["targets"] = targets;
    nlohmann::json averages = nlohmann::json::object();
    for (const std::string& m : report.methods) {
        const MeanSe r = mean_se(target_means(report, m));
        averages[m] = {{"reduction", r.mean}, {"reduction_se_over_targets", r.se}, {"targets", r.n}};
    }
    j["averages"] = averages;
    if (has_method(report, kMona)) {
        nlohmann::json paired = nlohmann::json::object();
        for (const std::string& m : report.methods) {
            if (m == kMona) continue;
            const std::vector<double> diffs = paired_differences(report, m);
            const MeanSe d = mean_se(diffs);
            int64_t better = 0;
            for (double v : diffs) better += v > 0.0;
            paired[m] = {{"mean", d.mean}, {"se", d.se}, {"targets", d.n}, {"targets_mona_better", better}};
        }
        j["paired_mona_minus"] = paired;
    }
    return j;
}

std::string finetune_markdown(const FinetuneReport& report) {
    const FinetuneOptions& o = report.options;
    std::string md = "\n## Fine-tuning: loss reduction on held-back exemplars\n\n";
    md += fmt::format(
        "Base loss and reduction (base - tuned, nats per assistant token; larger is better) after fine-tuning on each "
        "method's top {} samples ({} epoch(s), lr {}, context {} tokens); random: mean ± standard error over {} "
        "seeds. Every target's held-back exemplars (every {}th) never enter its prototype.\n\n",
        o.n_samples, o.epochs, o.learning_rate, o.n_ctx, o.n_random_seeds, o.heldout_every);
    md += "| target | held back | base loss |";
    for (const std::string& m : report.methods) md += fmt::format(" {} |", m);
    md += "\n|---|---:|---:|";
    for (size_t i = 0; i < report.methods.size(); ++i) md += "---:|";
    md += "\n";
    auto cell = [](const MeanSe& r) {
        if (r.n == 0) return std::string("–");
        if (r.n < 2) return fmt::format("{:+.4f}", r.mean);
        return fmt::format("{:+.4f} ± {:.4f}", r.mean, r.se);
    };
    for (const FinetuneTarget& t : report.targets) {
        md += fmt::format("| {} | {} | {:.4f} |", t.name, t.n_heldout, t.base_loss);
        for (const std::string& m : report.methods) md += fmt::format(" {} |", cell(mean_se(reductions(t, m))));
        md += "\n";
    }
    md += "| **mean over targets** | | |";
    for (const std::string& m : report.methods) md += fmt::format(" {} |", cell(mean_se(target_means(report, m))));
    md += "\n";
    if (has_method(report, kMona)) {
        md +=
            "\nPaired difference, mona's reduction minus each method's (mean ± standard error over targets; targets "
            "where mona's is larger):\n\n| method | mona − method | mona better |\n|---|---:|---:|\n";
        for (const std::string& m : report.methods) {
            if (m == kMona) continue;
            const std::vector<double> diffs = paired_differences(report, m);
            int64_t better = 0;
            for (double v : diffs) better += v > 0.0;
            md += fmt::format("| {} | {} | {}/{} |\n", m, cell(mean_se(diffs)), better, diffs.size());
        }
    }
    md += fmt::format("\nTraining: {} optimizer-step tokens in {:.0f} s ({:.0f} tokens/s, {} threads).\n",
                      report.n_train_tokens, report.seconds,
                      report.seconds > 0 ? static_cast<double>(report.n_train_tokens) / report.seconds : 0.0,
                      report.n_threads);
    return md;
}

std::string finetune_html(const FinetuneReport& report) {
    const FinetuneOptions& o = report.options;
    std::string out = "<section id=\"finetune\">\n<h2>Fine-tuning: loss reduction on held-back exemplars</h2>\n";
    out += fmt::format(
        "<p>Base loss and reduction (base &minus; tuned, nats per assistant token; larger is better) after "
        "fine-tuning a copy of the model on each method's top {} samples ({} epoch(s), lr {}, {} tokens per "
        "sequence); random: mean &plusmn; standard error over {} seeds. Each target's held-back exemplars (every "
        "{}th) never enter its prototype.</p>\n",
        o.n_samples, o.epochs, o.learning_rate, o.n_ctx, o.n_random_seeds, o.heldout_every);
    out += "<table>\n<thead><tr><th>target</th><th class=\"num\">held back</th><th class=\"num\">base loss</th>";
    for (const std::string& m : report.methods) out += fmt::format("<th class=\"num\">{}</th>", html_escape(m));
    out += "</tr></thead>\n<tbody>\n";
    double lo = 0.0;
    double hi = 0.0;
    for (const FinetuneTarget& t : report.targets) {
        out += fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.4f}</td>", html_escape(t.name),
                           t.n_heldout, t.base_loss);
        for (const std::string& m : report.methods) {
            const MeanSe r = mean_se(reductions(t, m));
            lo = std::min(lo, r.mean - r.se);
            hi = std::max(hi, r.mean + r.se);
            out += r.n == 0 ? std::string("<td></td>")
                            : fmt::format("<td class=\"num\" data-value=\"{:.9g}\">{:+.4f}{}</td>", r.mean, r.mean,
                                          r.n > 1 ? fmt::format(" &plusmn; {:.4f}", r.se) : std::string());
        }
        out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
    // Bars on one axis for every target: zero line, bar to the mean, whisker mean ± se.
    const int row_h = 14;
    const int label_w = 260;
    const int plot_w = report::kSvgWidth - label_w - 20;
    const double span = hi - lo > 0 ? hi - lo : 1.0;
    auto x_of = [&](double v) { return label_w + (v - lo) / span * plot_w; };
    for (const FinetuneTarget& t : report.targets) {
        const int height = static_cast<int>(report.methods.size()) * row_h + 10;
        out += report::svg_open(height, "loss reduction per method, " + t.name);
        out += fmt::format("<line x1=\"{:.1f}\" y1=\"0\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#555\"/>", x_of(0.0),
                           x_of(0.0), height);
        for (size_t i = 0; i < report.methods.size(); ++i) {
            const MeanSe r = mean_se(reductions(t, report.methods[i]));
            const int y = static_cast<int>(i) * row_h + 4;
            out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{} / {}</text>",
                               label_w - 6, y + 10, html_escape(t.name), html_escape(report.methods[i]));
            if (r.n == 0) continue;
            const double x0 = std::min(x_of(0.0), x_of(r.mean));
            out += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>", x0, y + 2,
                               std::abs(x_of(r.mean) - x_of(0.0)), row_h - 5,
                               report.methods[i] == "mona" ? report::kColorTargets : report::kColorPool);
            if (r.se > 0) {
                out += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#000\"/>",
                                   x_of(r.mean - r.se), y + 6, x_of(r.mean + r.se), y + 6);
            }
        }
        out += "</svg>\n";
    }
    out += "</section>\n";
    return out;
}

}  // namespace mona
