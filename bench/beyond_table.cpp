// bench/beyond_table.cpp: the precision / diversity trade-off of --diversity and --dedup on a labelled pool
// (docs/beyond.md), without a model pass per setting: the pool and the target exemplars are embedded once each
// with `mona embed` (same model, SAE and settings), and this program scores every target exactly as `mona score`
// does (a target's prototype = make_prototype of its exemplars' pooled vectors in file order, the vectors `mona
// score` would compute when the store keeps every latent; Jaccard against it; top n; mmr_pick with the dedup
// filter, as jobs/selection_writer.cpp), for every setting, and prints a markdown table averaged over targets.
//
//   mona_beyond_table POOL.jsonl POOL_STORE TARGETS.jsonl TARGETS_STORE RATIO C LAMBDA[,LAMBDA...] T[,T...]
//
// TARGETS.jsonl: every exemplar with its target's name in "task" (the name equals the pool's task label); or a
// folder of NAME.jsonl files, with TARGETS_STORE a folder of one store per target (TARGETS_STORE/NAME).
// T = 0: no dedup. Per target it also prints precision@n and Spearman(score, pool sample length) once.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "io/sample_reader.hpp"
#include "mona/feature_store.hpp"
#include "pool/pool.hpp"
#include "score/dedup.hpp"
#include "score/diversity.hpp"
#include "score/jaccard.hpp"
#include "score/length_strata.hpp"
#include "score/prototype_mode.hpp"
#include "score/selection_metrics.hpp"
#include "score/topn.hpp"
#include "text/formats.hpp"

namespace {

using namespace mona;

struct Item {
    std::string task;
    std::string text;  // normalised (score/dedup.hpp)
    uint64_t fingerprint = 0;
    SparseVec vec;
    int64_t n_tokens = 0;
};

// Records of `path` joined with the vectors of `store` by record index (records the store lacks are left out).
std::vector<Item> load(const std::string& path, const std::string& store_dir, uint32_t& max_latent) {
    std::map<uint64_t, Item> by_record;
    auto reader = RecordReader::open(path);
    if (!reader.ok()) throw std::runtime_error(reader.status().message());
    RawRecord record;
    while (true) {
        auto more = reader->next(record);
        if (!more.ok()) throw std::runtime_error(more.status().message());
        if (!more.value()) break;
        auto sample = parse_sample(record.bytes, InputFormat::kAuto, {path, record.line_no, record.record_idx});
        if (!sample.ok()) continue;
        Item item;
        item.task = sample->task;
        item.text = normalize_for_dedup(sample.value());
        item.fingerprint = dedup_fingerprint(item.text);
        by_record[record.record_idx] = std::move(item);
    }
    auto stores = StoreSet::open({store_dir});
    if (!stores.ok()) throw std::runtime_error(stores.status().message());
    std::vector<Item> items;
    const Status status = stores->for_each([&](const StoredSample& stored) {
        auto it = by_record.find(stored.record_idx);
        if (it == by_record.end()) return Status();
        it->second.vec = stored.vec;
        it->second.n_tokens = stored.n_tokens;
        if (!stored.vec.idx.empty()) max_latent = std::max(max_latent, stored.vec.idx.back());
        items.push_back(std::move(it->second));
        return Status();
    });
    if (!status.ok()) throw std::runtime_error(status.message());
    return items;
}

std::vector<double> split_numbers(const std::string& text) {
    std::vector<double> out;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');) out.push_back(std::stod(part));
    return out;
}

std::vector<double> average_ranks(const std::vector<double>& values) {
    std::vector<size_t> order(values.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
    std::vector<double> ranks(values.size());
    for (size_t begin = 0; begin < order.size();) {
        size_t end = begin;
        while (end < order.size() && values[order[end]] == values[order[begin]]) ++end;
        for (size_t place = begin; place < end; ++place) ranks[order[place]] = (begin + end - 1) / 2.0;
        begin = end;
    }
    return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
    const auto rx = average_ranks(x), ry = average_ranks(y);
    const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / rx.size();
    const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / ry.size();
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < rx.size(); ++i) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    return sxy / std::sqrt(sxx * syy);
}

// --prototype contrast:BETA (docs/beyond.md): a contrast prototype p' = max(0, p - BETA * m), m the pool's
// mean pooled vector, which removes the latents every pool sample shares (template, length, common tokens) in
// proportion to how common they are. Per target: precision@n and Spearman(score, tokens) for each BETA.
void contrast_table(const std::vector<Item>& pool, const std::map<std::string, std::vector<SparseVec>>& by_target,
                    uint32_t max_latent, size_t n, const std::vector<double>& betas) {
    const auto d = static_cast<int64_t>(max_latent) + 1;
    std::vector<SparseVec> pool_vecs;
    for (const auto& item : pool) pool_vecs.push_back(item.vec);
    const Prototype pool_mean = make_prototype(pool_vecs, d);
    std::vector<double> lengths;
    for (const auto& item : pool) lengths.push_back(static_cast<double>(item.n_tokens));
    std::printf(
        "\nContrast prototype max(0, p - BETA x pool mean): precision@n / Spearman(score, tokens)\n\n| target |");
    for (double beta : betas) std::printf(" BETA %g |", beta);
    std::printf("\n|---|");
    for (size_t i = 0; i < betas.size(); ++i) std::printf("---|");
    std::printf("\n");
    std::vector<double> mean_precision(betas.size(), 0.0), mean_rho(betas.size(), 0.0);
    for (const auto& [name, vecs] : by_target) {
        const Prototype proto = make_prototype(vecs, d);
        std::printf("| %s |", name.c_str());
        for (size_t beta_idx = 0; beta_idx < betas.size(); ++beta_idx) {
            // The option itself (score/prototype_mode.hpp), as `mona score --prototype contrast:BETA` applies it
            // (BETA 0 = the paper's mean).
            const Prototype contrast = apply_prototype_mode(proto, pool_mean, PrototypeMode{betas[beta_idx]});
            std::vector<double> scores;
            for (const auto& item : pool) scores.push_back(jaccard(item.vec, contrast));
            double hits = 0;
            for (uint64_t pos : top_n(scores, n)) hits += pool[pos].task == name;
            const double precision = hits / static_cast<double>(n), rho = spearman(scores, lengths);
            mean_precision[beta_idx] += precision / static_cast<double>(by_target.size());
            mean_rho[beta_idx] += rho / static_cast<double>(by_target.size());
            std::printf(" %.3f / %+.2f |", precision, rho);
        }
        std::printf("\n");
    }
    std::printf("| mean |");
    for (size_t beta_idx = 0; beta_idx < betas.size(); ++beta_idx) {
        std::printf(" %.3f / %+.2f |", mean_precision[beta_idx], mean_rho[beta_idx]);
    }
    std::printf("\n");
}

struct Row {
    double precision = 0, pairwise = 0, coverage_mass = 0, coverage_latents = 0, dup = 0, distinct2 = 0, mtld = 0,
           tokens = 0, n_kept = 0, n_dropped = 0, n_jaccard = 0, seconds = 0;
};

// --length-strata B (docs/beyond.md, issue 13 part 5), alone and with the contrast prototype: per target and setting,
// precision@n / Spearman(score used for ranking, tokens) / mean tokens of the selection; the targets' and the
// pool's mean tokens for comparison.
void length_table(const std::vector<Item>& pool, const std::vector<Item>& exemplars, uint32_t max_latent, size_t n,
                  const std::vector<double>& betas, const std::vector<double>& strata) {
    const auto d = static_cast<int64_t>(max_latent) + 1;
    std::vector<SparseVec> pool_vecs;
    std::vector<int64_t> tokens;
    std::vector<double> lengths;
    for (const auto& item : pool) {
        pool_vecs.push_back(item.vec);
        tokens.push_back(item.n_tokens);
        lengths.push_back(static_cast<double>(item.n_tokens));
    }
    const Prototype pool_mean = make_prototype(pool_vecs, d);
    std::map<std::string, std::vector<const Item*>> by_target;
    for (const auto& item : exemplars) by_target[item.task].push_back(&item);
    std::printf(
        "\nLength strata (B) x prototype (BETA): precision@n / Spearman(ranking score, tokens) / mean tokens "
        "selected\n\n| target | target tokens |");
    for (double beta : betas)
        for (double b : strata) std::printf(" BETA %g, B %g |", beta, b);
    std::printf("\n|---|---|");
    for (size_t i = 0; i < betas.size() * strata.size(); ++i) std::printf("---|");
    std::printf("\n");
    std::vector<double> mean_p(betas.size() * strata.size()), mean_r(mean_p.size()), mean_t(mean_p.size());
    double mean_target_tokens = 0.0, pool_tokens = 0.0;
    for (double l : lengths) pool_tokens += l / static_cast<double>(lengths.size());
    for (const auto& [name, items] : by_target) {
        std::vector<SparseVec> vecs;
        double target_tokens = 0.0;
        for (const Item* item : items) {
            vecs.push_back(item->vec);
            target_tokens += static_cast<double>(item->n_tokens) / static_cast<double>(items.size());
        }
        mean_target_tokens += target_tokens / static_cast<double>(by_target.size());
        const Prototype proto = make_prototype(vecs, d);
        std::printf("| %s | %.1f |", name.c_str(), target_tokens);
        size_t col = 0;
        for (double beta : betas) {
            const Prototype p = apply_prototype_mode(proto, pool_mean, PrototypeMode{beta});
            std::vector<double> raw;
            for (const auto& item : pool) raw.push_back(jaccard(item.vec, p));
            for (double b : strata) {
                const std::vector<double> scores =
                    b > 0 ? length_stratified_scores(raw, tokens, static_cast<uint32_t>(b)) : raw;
                double hits = 0, sel_tokens = 0;
                for (uint64_t pos : top_n(scores, n)) {
                    hits += pool[pos].task == name;
                    sel_tokens += static_cast<double>(pool[pos].n_tokens);
                }
                const double precision = hits / static_cast<double>(n), rho = spearman(scores, lengths);
                const double mean_tokens = sel_tokens / static_cast<double>(n);
                mean_p[col] += precision / static_cast<double>(by_target.size());
                mean_r[col] += rho / static_cast<double>(by_target.size());
                mean_t[col] += mean_tokens / static_cast<double>(by_target.size());
                ++col;
                std::printf(" %.3f / %+.2f / %.0f |", precision, rho, mean_tokens);
            }
        }
        std::printf("\n");
    }
    std::printf("| mean | %.1f (pool %.1f) |", mean_target_tokens, pool_tokens);
    for (size_t col = 0; col < mean_p.size(); ++col)
        std::printf(" %.3f / %+.2f / %.0f |", mean_p[col], mean_r[col], mean_t[col]);
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 9 || argc > 11) {
        std::fprintf(stderr,
                     "usage: %s POOL.jsonl POOL_STORE TARGETS.jsonl TARGETS_STORE RATIO C LAMBDAS DEDUPS [BETAS "
                     "[STRATA]]\n",
                     argv[0]);
        return 2;
    }
    try {
        uint32_t max_latent = 0;
        const std::vector<Item> pool = load(argv[1], argv[2], max_latent);
        std::vector<Item> exemplars;
        if (std::filesystem::is_directory(argv[3])) {
            // One file and one store per target: TARGETS/NAME.jsonl embedded into TARGETS_STORE/NAME.
            std::vector<std::string> names;
            for (const auto& entry : std::filesystem::directory_iterator(argv[3])) {
                if (entry.path().extension() == ".jsonl") names.push_back(entry.path().stem().string());
            }
            std::sort(names.begin(), names.end());
            for (const auto& name : names) {
                std::vector<Item> items =
                    load(std::string(argv[3]) + "/" + name + ".jsonl", std::string(argv[4]) + "/" + name, max_latent);
                for (auto& item : items) {
                    item.task = name;
                    exemplars.push_back(std::move(item));
                }
            }
        } else {
            exemplars = load(argv[3], argv[4], max_latent);
        }
        const double ratio = std::stod(argv[5]);
        const auto c = static_cast<uint32_t>(std::stoul(argv[6]));
        const std::vector<double> lambdas = split_numbers(argv[7]), dedups = split_numbers(argv[8]);
        std::map<std::string, std::vector<SparseVec>> by_target;
        for (const auto& item : exemplars) by_target[item.task].push_back(item.vec);
        const size_t n_pool = pool.size();
        const std::vector<double> betas = argc >= 10 ? split_numbers(argv[9]) : std::vector<double>();
        const std::vector<double> strata = argc >= 11 ? split_numbers(argv[10]) : std::vector<double>();
        const auto n = static_cast<size_t>(std::max<long long>(1, std::llround(ratio * static_cast<double>(n_pool))));
        std::printf("pool %zu samples, %zu targets, n = %zu per target, candidates c = %u\n\n", n_pool,
                    by_target.size(), n, c);
        std::vector<double> lengths;
        for (const auto& item : pool) lengths.push_back(static_cast<double>(item.n_tokens));
        std::map<std::pair<double, double>, Row> table;
        std::printf(
            "| target | exemplars | pool samples of the task | precision@n (paper) | Spearman(score, tokens) |\n");
        std::printf("|---|---|---|---|---|\n");
        for (const auto& [name, vecs] : by_target) {
            const Prototype proto = make_prototype(vecs, static_cast<int64_t>(max_latent) + 1);
            std::vector<double> scores;
            for (const auto& item : pool) scores.push_back(jaccard(item.vec, proto));
            const std::vector<uint64_t> candidates = top_n(scores, n_diversity_candidates(n, c, n_pool));
            std::vector<double> cand_scores;
            std::vector<const SparseVec*> cand_vecs;
            for (uint64_t pos : candidates) {
                cand_scores.push_back(scores[pos]);
                cand_vecs.push_back(&pool[pos].vec);
            }
            size_t n_task = 0;
            for (const auto& item : pool) n_task += item.task == name;
            double paper_precision = 0;
            for (size_t place = 0; place < n; ++place) paper_precision += pool[candidates[place]].task == name;
            std::printf("| %s | %zu | %zu | %.3f | %+.3f |\n", name.c_str(), vecs.size(), n_task,
                        paper_precision / static_cast<double>(n), spearman(scores, lengths));
            for (double lambda : lambdas) {
                for (double t : dedups) {
                    const auto start = std::chrono::steady_clock::now();
                    DiversityStats stats;
                    std::optional<DedupFilter> filter;
                    if (t > 0) filter.emplace(t);
                    size_t n_dropped = 0;
                    AcceptFn accept;
                    if (filter) {
                        accept = [&](size_t cand) {
                            const Item& item = pool[candidates[cand]];
                            if (filter->check(item.fingerprint, item.vec)) return ++n_dropped, false;
                            filter->keep(cand, item.fingerprint, item.vec);
                            return true;
                        };
                    }
                    const auto picks = mmr_pick(cand_scores, cand_vecs, n, lambda, &stats, accept);
                    const double seconds =
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                    std::vector<const SparseVec*> sel;
                    std::vector<std::string> texts;
                    double hits = 0, tokens = 0;
                    for (size_t cand : picks) {
                        const Item& item = pool[candidates[cand]];
                        sel.push_back(&item.vec);
                        texts.push_back(item.text);
                        hits += item.task == name;
                        tokens += static_cast<double>(item.n_tokens);
                    }
                    const CoverageResult cov = selection_coverage(proto, sel);
                    Row& row = table[{lambda, t}];
                    const double k = static_cast<double>(std::max<size_t>(1, picks.size()));
                    row.precision += hits / k;
                    row.pairwise += mean_pairwise_jaccard(sel);
                    row.coverage_mass += cov.mass;
                    row.coverage_latents += cov.latents;
                    row.dup += duplicate_rate(texts);
                    row.distinct2 += distinct_n(texts, 2);
                    row.mtld += mtld(texts);
                    row.tokens += tokens / k;
                    row.n_kept += static_cast<double>(picks.size());
                    row.n_dropped += static_cast<double>(n_dropped);
                    row.n_jaccard += static_cast<double>(stats.n_jaccard + (filter ? filter->n_jaccard() : 0));
                    row.seconds += seconds;
                }
            }
        }
        const double n_targets = static_cast<double>(by_target.size());
        std::printf(
            "\nMeans over the %zu targets. pairwise J: mean Jaccard between selected samples (redundancy); coverage: "
            "prototype mass / latents covered; dup: duplicate rate; Jaccard evals: MMR + dedup, vs %zu for the naive "
            "loop (n x C).\n\n",
            by_target.size(), n * n_diversity_candidates(n, c, n_pool));
        std::printf(
            "| LAMBDA | dedup T | precision@n | pairwise J | coverage mass | coverage latents | dup rate | distinct-2 "
            "| MTLD | mean tokens | kept | dropped | Jaccard evals | ms |\n");
        std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (const auto& [key, row] : table) {
            std::printf(
                "| %g | %g | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f |\n",
                key.first, key.second, row.precision / n_targets, row.pairwise / n_targets,
                row.coverage_mass / n_targets, row.coverage_latents / n_targets, row.dup / n_targets,
                row.distinct2 / n_targets, row.mtld / n_targets, row.tokens / n_targets, row.n_kept / n_targets,
                row.n_dropped / n_targets, row.n_jaccard / n_targets, 1000.0 * row.seconds / n_targets);
        }
        if (!betas.empty()) contrast_table(pool, by_target, max_latent, n, betas);
        if (!betas.empty() && !strata.empty()) length_table(pool, exemplars, max_latent, n, betas, strata);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
