// eval/methods.hpp: the registry of `mona eval` methods (its rows are consistent, each scores as its definition
// says, against plain references) and the parsing of NAME[:layer=L][:k=K][:pooling=P] specs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "eval/methods.hpp"
#include "score/bm25.hpp"
#include "score/metrics.hpp"

namespace mona {
namespace {

const EvalMethodDef& method(const std::string& name) {
    Result<const EvalMethodDef*> def = find_eval_method(name);
    EXPECT_TRUE(def.ok()) << def.status().message();
    return *def.value();
}

SparseVec sparse_of(const std::vector<float>& dense) {
    SparseVec v;
    for (uint32_t k = 0; k < dense.size(); ++k) {
        if (dense[k] == 0.0f) continue;
        v.idx.push_back(k);
        v.val.push_back(dense[k]);
        v.l1 += std::fabs(dense[k]);
    }
    return v;
}

TEST(EvalMethods, RegistryRowsAreConsistent) {
    std::vector<std::string> names;
    size_t n_latent_rows = 0;
    for (const EvalMethodDef& def : eval_methods()) {
        names.push_back(def.name);
        const bool streamed = def.rep != RepKind::kNone;
        EXPECT_EQ(streamed, def.score != nullptr) << def.name << ": a streamed row scores per sample";
        EXPECT_EQ(!streamed, def.run_pool != nullptr) << def.name << ": a whole-pool row runs on the pool";
        EXPECT_EQ(streamed, def.takes_layer) << def.name << ": every streamed method takes a layer";
        if (!streamed) {
            EXPECT_FALSE(def.takes_k || def.takes_pooling) << def.name;
        }
        EXPECT_FALSE(std::string(def.definition).empty()) << def.name;
        n_latent_rows += def.explains_latents;
        if (def.explains_latents) {
            EXPECT_EQ(RepKind::kSae, def.rep) << "latents are SAE latents";
        }
    }
    EXPECT_EQ(1u, n_latent_rows);
    EXPECT_EQ((std::vector<std::string>{"mona", "sae-cosine", "raw-cosine", "poly-jaccard", "bm25", "random"}), names)
        << "the default run order";
    EXPECT_EQ(names.size(), std::set<std::string>(names.begin(), names.end()).size());
    std::vector<std::string> defaults;
    for (const EvalMethodSpec& spec : default_method_specs()) {
        defaults.push_back(spec.name);
        EXPECT_EQ(-1, spec.layer);
        EXPECT_EQ(0, spec.k);
        EXPECT_FALSE(spec.pooling.has_value());
    }
    EXPECT_EQ(names, defaults);
}

TEST(EvalMethods, StreamedRowsScoreAsDefined) {
    const std::vector<float> a = {0.0f, 2.0f, 1.0f, 0.0f, 4.0f};
    const std::vector<float> p = {1.0f, 1.0f, 3.0f, 0.0f, 2.0f};
    TargetRep target;
    target.proto = prototype_from_dense(p);
    RepVector sample;
    sample.sparse = sparse_of(a);
    // Generalized Jaccard: Σ min / Σ max = (0 + 1 + 1 + 0 + 2) / (1 + 2 + 3 + 0 + 4).
    EXPECT_DOUBLE_EQ(4.0 / 10.0, method("mona").score(sample, target));
    EXPECT_DOUBLE_EQ(4.0 / 10.0, method("poly-jaccard").score(sample, target));
    // Cosine: (0 + 2 + 3 + 0 + 8) / (sqrt(21) sqrt(15)).
    EXPECT_DOUBLE_EQ(13.0 / std::sqrt(21.0 * 15.0), method("sae-cosine").score(sample, target));
    // raw-cosine: dense vectors in double.
    RepVector raw;
    raw.dense = {1.0, -2.0, 0.5};
    TargetRep raw_target;
    raw_target.dense = {2.0, 1.0, 1.0};
    raw_target.dense_norm = std::sqrt(6.0);
    EXPECT_DOUBLE_EQ(0.5 / (std::sqrt(5.25) * std::sqrt(6.0)), method("raw-cosine").score(raw, raw_target));
}

TEST(EvalMethods, WholePoolRowsMatchTheirDefinitions) {
    const std::vector<std::string> pool = {"integrate the function", "a cat sat", "integrate by parts", "",
                                           "the function of a cat"};
    const std::vector<std::string> exemplars = {"integrate this function", "integrate twice"};
    Result<Bm25Index> index = Bm25Index::create();
    ASSERT_TRUE(index.ok());
    for (const auto& text : pool) ASSERT_TRUE(index->add_document(text).ok());
    const PoolMethodInput in{pool.size(), 2, 17, &index.value(), &exemplars};
    const EvalMethodRun bm25 = method("bm25").run_pool(in);
    EXPECT_EQ(index->score_target_set(exemplars, Bm25Aggregation::kPrototype), bm25.scores);
    EXPECT_TRUE(bm25.selected.empty()) << "a method with scores is selected by the caller (top n)";
    EXPECT_GT(bm25.scores[0], bm25.scores[1]);
    const EvalMethodRun random = method("random").run_pool(in);
    EXPECT_TRUE(random.scores.empty());
    EXPECT_EQ(metrics::random_selection(pool.size(), 2, 17), random.selected);
}

TEST(EvalMethods, SpecsParseToCanonicalNames) {
    struct Case {
        std::string text, name;
        int32_t layer, k;
        std::optional<PoolingMode> pooling;
    };
    for (const Case& c :
         std::vector<Case>{{"mona", "mona", -1, 0, std::nullopt},
                           {"mona:k=8:pooling=sum", "mona:k=8:pooling=sum", -1, 8, PoolingMode::kSum},
                           {"mona:pooling=mean:k=8:layer=2", "mona:layer=2:k=8:pooling=mean", 2, 8, PoolingMode::kMean},
                           {"raw-cosine:layer=0", "raw-cosine:layer=0", 0, 0, std::nullopt},
                           {"poly-jaccard:layer=1:k=5", "poly-jaccard:layer=1:k=5", 1, 5, std::nullopt},
                           {"random", "random", -1, 0, std::nullopt}}) {
        Result<EvalMethodSpec> spec = parse_eval_method_spec(c.text);
        ASSERT_TRUE(spec.ok()) << c.text << ": " << spec.status().message();
        EXPECT_EQ(c.name, spec->name) << c.text;
        EXPECT_EQ(c.layer, spec->layer) << c.text;
        EXPECT_EQ(c.k, spec->k) << c.text;
        EXPECT_EQ(c.pooling, spec->pooling) << c.text;
        EXPECT_EQ(c.text.substr(0, c.text.find(':')), spec->method->name);
    }
}

// The options beyond the paper: parsed values, and canonical names that leave out what equals the paper's.
TEST(EvalMethods, BeyondThePaperOptionsParseToCanonicalNames) {
    struct Case {
        std::string text, name;
        double diversity, dedup, beta;
        uint32_t candidates;
    };
    for (const Case& c : std::vector<Case>{
             {"mona:diversity=0.3", "mona:diversity=0.3", 0.3, 0.0, 0.0, 4},
             {"mona:dedup=0.9", "mona:dedup=0.9", 0.0, 0.9, 0.0, 4},
             {"mona:dedup=0.9:diversity=0.1:candidates=8", "mona:diversity=0.1:candidates=8:dedup=0.9", 0.1, 0.9, 0.0,
              8},
             {"mona:prototype=contrast:1.5", "mona:prototype=contrast:1.5", 0.0, 0.0, 1.5, 4},
             {"mona:prototype=contrast:1.5:k=4", "mona:k=4:prototype=contrast:1.5", 0.0, 0.0, 1.5, 4},
             {"mona:diversity=0.2:prototype=contrast:1", "mona:prototype=contrast:1:diversity=0.2", 0.2, 0.0, 1.0, 4},
             {"mona:prototype=mean", "mona", 0.0, 0.0, 0.0, 4},
             {"mona:diversity=0", "mona", 0.0, 0.0, 0.0, 4},
             {"mona:candidates=8", "mona", 0.0, 0.0, 0.0, 8},
             {"sae-cosine:diversity=1", "sae-cosine:diversity=1", 1.0, 0.0, 0.0, 4},
             {"poly-jaccard:dedup=1", "poly-jaccard:dedup=1", 0.0, 1.0, 0.0, 4},
             {"mona:diversity=0.1:length-strata=5", "mona:length-strata=5:diversity=0.1", 0.1, 0.0, 0.0, 4}}) {
        Result<EvalMethodSpec> spec = parse_eval_method_spec(c.text);
        ASSERT_TRUE(spec.ok()) << c.text << ": " << spec.status().message();
        EXPECT_EQ(c.name, spec->name) << c.text;
        EXPECT_EQ(c.diversity, spec->diversity) << c.text;
        EXPECT_EQ(c.dedup, spec->dedup) << c.text;
        EXPECT_EQ(c.beta, spec->prototype.contrast_beta) << c.text;
        EXPECT_EQ(c.candidates, spec->candidates) << c.text;
        EXPECT_EQ(c.diversity > 0 || c.dedup > 0, spec->reranks()) << c.text;
    }
}

TEST(EvalMethods, BadSpecsNameTheProblem) {
    for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
             {"dsir", "unknown method 'dsir': expected mona, sae-cosine, raw-cosine, poly-jaccard, bm25 or random"},
             {"mona:k", "option 'k' is not KEY=VALUE"},
             {"mona:k=", "option 'k=' is not KEY=VALUE"},
             {"raw-cosine:k=4", "raw-cosine takes no k option"},
             {"raw-cosine:pooling=sum", "raw-cosine takes no pooling option"},
             {"bm25:layer=1", "bm25 takes no layer option"},
             {"random:k=1", "random takes no k option"},
             {"mona:k=0", "k must be an integer >= 1, got '0'"},
             {"mona:layer=-1", "layer must be an integer >= 0, got '-1'"},
             {"mona:k=3x", "k must be an integer >= 1, got '3x'"},
             {"mona:k=99999999999", "k must be an integer >= 1"},
             {"mona:k=2:k=3", "k given twice"},
             {"mona:pooling=sum:pooling=mean", "pooling given twice"},
             {"mona:depth=3", "unknown option 'depth': expected layer=L, k=K, pooling=mean|sum, prototype="},
             {"raw-cosine:depth=3", "unknown option 'depth': expected layer=L, k=K or pooling=mean|sum"},
             {"raw-cosine:diversity=0.3", "raw-cosine takes no diversity option"},
             {"bm25:dedup=0.9", "bm25 takes no dedup option"},
             {"mona:diversity=-1", "diversity must be a number >= 0, got '-1'"},
             {"mona:diversity=nan", "diversity must be a number >= 0"},
             {"mona:dedup=0", "dedup must be a number in (0, 1], got '0'"},
             {"mona:dedup=1.5", "dedup must be a number in (0, 1]"},
             {"mona:candidates=0", "candidates must be an integer in [1, 1000]"},
             {"mona:candidates=2.5", "candidates must be an integer, got '2.5'"},
             {"mona:diversity=0.1:diversity=0.2", "diversity given twice"},
             {"mona:length-strata=0", "length-strata must be an integer in [1, 1000000]"},
             {"mona:length-strata=2:length-strata=3", "length-strata given twice"},
             {"mona:prototype=median", "expected mean or contrast:BETA"},
             {"mona:prototype=contrast", "expected mean or contrast:BETA"},
             {"mona:prototype=contrast:0", "expected mean or contrast:BETA"},
             {"mona:prototype=contrast:x", "expected mean or contrast:BETA"},
             {"mona:pooling=max", "expected one of mean, sum"}}) {
        Result<EvalMethodSpec> spec = parse_eval_method_spec(text);
        ASSERT_FALSE(spec.ok()) << text;
        EXPECT_EQ(StatusCode::kInvalidInput, spec.status().code()) << text;
        EXPECT_NE(std::string::npos, spec.status().message().find(message)) << text << ": " << spec.status().message();
    }
}

}  // namespace
}  // namespace mona
