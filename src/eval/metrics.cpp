#include "eval/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "mona/status.hpp"
#include "score/topn.hpp"

namespace mona {
namespace {

std::vector<uint64_t> lengths_of(const std::vector<uint64_t>& selected, const std::vector<uint64_t>& counts) {
    std::vector<uint64_t> out;
    out.reserve(selected.size());
    for (uint64_t pos : selected) out.push_back(counts[pos]);
    return out;
}

double mean_of(const std::vector<double>& values) {
    if (values.empty()) return 0.0;
    double sum = 0.0;
    for (double v : values) sum += v;
    return sum / static_cast<double>(values.size());
}

}  // namespace

std::vector<double> mean_rows(const std::vector<float>& rows, int64_t d, int64_t begin, int64_t end) {
    std::vector<double> out(static_cast<size_t>(d), 0.0);
    for (int64_t row = begin; row < end; ++row) {
        const float* x = rows.data() + row * d;
        for (int64_t col = 0; col < d; ++col) out[col] += x[col];
    }
    if (end > begin) {
        for (double& v : out) v /= static_cast<double>(end - begin);
    }
    return out;
}

double l2_norm(const std::vector<double>& v) {
    double sum = 0.0;
    for (double x : v) sum += x * x;
    return std::sqrt(sum);
}

double dense_cosine(const std::vector<double>& a, const std::vector<double>& b, double b_norm) {
    const double a_norm = l2_norm(a);
    if (a_norm == 0.0 || b_norm == 0.0) return 0.0;
    double dot = 0.0;
    for (size_t k = 0; k < a.size(); ++k) dot += a[k] * b[k];
    return dot / (a_norm * b_norm);
}

double value_at(const SparseVec& vec, uint32_t latent) {
    auto it = std::lower_bound(vec.idx.begin(), vec.idx.end(), latent);
    return it != vec.idx.end() && *it == latent ? vec.val[static_cast<size_t>(it - vec.idx.begin())] : 0.0;
}

std::vector<uint32_t> top_latents(const Prototype& proto, size_t n) {
    std::vector<double> values(proto.dense.begin(), proto.dense.end());
    std::vector<uint32_t> out;
    for (uint64_t latent : top_n(values, n)) {
        if (values[latent] > 0.0) out.push_back(static_cast<uint32_t>(latent));
    }
    return out;
}

const std::string* text_at(const std::vector<std::pair<uint64_t, std::string>>& texts, uint64_t pos) {
    auto it =
        std::lower_bound(texts.begin(), texts.end(), pos,
                         [](const std::pair<uint64_t, std::string>& entry, uint64_t p) { return entry.first < p; });
    return it != texts.end() && it->first == pos ? &it->second : nullptr;
}

EvalResults compute_eval_results(const EvalInput& in) {
    const size_t n_pool = in.pool_labels.size();
    MONA_ASSERT(in.pool_token_counts.size() == n_pool && in.pool_records.size() == n_pool &&
                    in.pool_ids.size() == n_pool && (in.coverage_vecs == nullptr || in.coverage_vecs->size() == n_pool),
                "eval pool vectors differ in size; this is a bug in mona, please report it with the command line");
    EvalResults r;
    r.pool_lengths = metrics::length_stats(in.pool_token_counts);
    {
        std::vector<uint64_t> all(n_pool);
        for (size_t pos = 0; pos < n_pool; ++pos) all[pos] = pos;
        r.pool_composition = metrics::composition(all, in.pool_labels);
    }
    const size_t n_methods = in.methods.size();
    for (const EvalTargetInput& t : in.targets) {
        MONA_ASSERT(
            t.runs.size() == n_methods,
            "eval target without one run per method; this is a bug in mona, please report it with the command line");
        EvalTargetMetrics tm;
        for (const auto& label : in.pool_labels) tm.pool_label_count += label == t.name;
        tm.pool_label_share =
            n_pool == 0 ? 0.0 : static_cast<double>(tm.pool_label_count) / static_cast<double>(n_pool);
        tm.target_lengths = metrics::length_stats(t.token_counts);
        for (const EvalMethodRun& run : t.runs) {
            MONA_ASSERT(
                run.scores.empty() || run.scores.size() == n_pool,
                "eval scores do not cover the pool; this is a bug in mona, please report it with the command line");
            MONA_ASSERT(metrics::validate_selection(run.selected, n_pool).ok(),
                        "eval selection out of range or repeated; this is a bug in mona, please report it with the "
                        "command line");
            EvalMethodMetrics mm;
            mm.pr = metrics::label_precision_recall(run.selected, in.pool_labels, t.name);
            mm.composition = metrics::composition(run.selected, in.pool_labels);
            mm.lengths = metrics::length_stats(lengths_of(run.selected, in.pool_token_counts));
            std::vector<std::string> texts;
            texts.reserve(run.selected.size());
            for (uint64_t pos : run.selected) {
                const std::string* text = text_at(in.texts, pos);
                MONA_ASSERT(text != nullptr,
                            "eval: no text for a selected sample; this is a bug in mona, please report it with the "
                            "command line");
                texts.push_back(*text);
            }
            mm.distinct_1 = metrics::distinct_n_of_texts(texts, 1);
            mm.distinct_2 = metrics::distinct_n_of_texts(texts, 2);
            mm.mtld = metrics::mean_mtld(texts);
            std::vector<std::string> normalised;
            normalised.reserve(run.selected.size());
            for (uint64_t pos : run.selected) {
                const std::string* text = text_at(in.normalised, pos);
                MONA_ASSERT(text != nullptr,
                            "eval: no normalised text for a selected sample; this is a bug in mona, please report it "
                            "with the command line");
                normalised.push_back(*text);
            }
            mm.duplicate_rate = duplicate_rate(normalised);
            if (in.coverage_vecs != nullptr) {
                std::vector<const SparseVec*> vecs;
                for (uint64_t pos : run.selected) vecs.push_back(&(*in.coverage_vecs)[pos]);
                if (t.coverage_prototype != nullptr) mm.coverage = selection_coverage(*t.coverage_prototype, vecs);
                if (vecs.size() <= kMaxPairwiseSelection) mm.mean_pairwise_jaccard = mean_pairwise_jaccard(vecs);
            }
            if (!run.scores.empty()) {
                double lo = INFINITY, hi = -INFINITY, sum = 0.0;
                uint64_t n_finite = 0;
                for (double v : run.scores) {
                    if (!std::isfinite(v)) continue;
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                    sum += v;
                    ++n_finite;
                }
                if (n_finite > 0) {
                    mm.score_min = lo;
                    mm.score_max = hi;
                    mm.score_mean = sum / static_cast<double>(n_finite);
                }
            }
            tm.methods.push_back(std::move(mm));
        }
        for (size_t a = 0; a < n_methods; ++a) {
            for (size_t b = a + 1; b < n_methods; ++b) {
                tm.overlaps.push_back({a, b, metrics::selection_overlap(t.runs[a].selected, t.runs[b].selected)});
            }
        }
        r.targets.push_back(std::move(tm));
    }
    for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
        std::vector<double> precision, recall, d1, d2, mtld, tokens, dup, cov_mass, cov_latents, pairwise;
        for (const EvalTargetMetrics& tm : r.targets) {
            const EvalMethodMetrics& mm = tm.methods[method_idx];
            precision.push_back(mm.pr.precision);
            recall.push_back(mm.pr.recall);
            d1.push_back(mm.distinct_1.ratio);
            d2.push_back(mm.distinct_2.ratio);
            mtld.push_back(mm.mtld);
            tokens.push_back(mm.lengths.mean);
            dup.push_back(mm.duplicate_rate);
            if (mm.coverage) cov_mass.push_back(mm.coverage->mass);
            if (mm.coverage) cov_latents.push_back(mm.coverage->latents);
            if (mm.mean_pairwise_jaccard) pairwise.push_back(*mm.mean_pairwise_jaccard);
        }
        auto mean_if_any = [](const std::vector<double>& v) {
            return v.empty() ? std::optional<double>() : std::optional<double>(mean_of(v));
        };
        r.averages.push_back({mean_of(precision), mean_of(recall), mean_of(d1), mean_of(d2), mean_of(mtld),
                              mean_of(tokens), mean_of(dup), mean_if_any(cov_mass), mean_if_any(cov_latents),
                              mean_if_any(pairwise)});
    }
    for (size_t a = 0; a < n_methods; ++a) {
        for (size_t b = a + 1; b < n_methods; ++b) {
            std::vector<double> overlap, jaccard;
            for (const EvalTargetMetrics& tm : r.targets) {
                for (const EvalOverlap& o : tm.overlaps) {
                    if (o.method_a != a || o.method_b != b) continue;
                    overlap.push_back(o.overlap.overlap);
                    jaccard.push_back(o.overlap.jaccard);
                }
            }
            r.average_overlaps.push_back({a, b, mean_of(overlap), mean_of(jaccard)});
        }
    }
    return r;
}

}  // namespace mona
