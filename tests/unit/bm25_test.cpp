// BM25 and the word tokeniser (score/bm25.hpp): hand-computed scores on a 3-document corpus, the three target-set
// aggregations by hand and against their definitions, ranking sanity, and tokeniser cases.
#include "score/bm25.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace mona {
namespace {

using Tokens = std::vector<std::string>;

Bm25Index make_index(const std::vector<std::string>& docs, const Bm25Options& options = {}) {
    Result<Bm25Index> index = Bm25Index::create(options);
    EXPECT_TRUE(index.ok()) << index.status().message();
    for (const std::string& doc : docs) {
        const Status status = index->add_document(doc);
        EXPECT_TRUE(status.ok()) << status.message();
    }
    return std::move(index).value();
}

// ---------------------------------------------------------------------------------------------------------------
// Tokeniser

TEST(Tokenize, LowercasesAsciiAndSplitsOnEveryOtherAsciiByte) {
    EXPECT_EQ((Tokens{"hello", "world"}), tokenize_words("Hello, World!"));
    EXPECT_EQ((Tokens{"x", "1", "y2", "z"}), tokenize_words("x_1+Y2 = z;"));
    EXPECT_EQ((Tokens{"don", "t", "stop"}), tokenize_words("don't\tSTOP\n"));
    EXPECT_EQ((Tokens{"def", "f", "n", "return", "n", "2"}), tokenize_words("def f(n):\n    return n**2"));
    EXPECT_EQ((Tokens{"3", "14", "42"}), tokenize_words("3.14 -42"));
}

TEST(Tokenize, PunctuationNeverFormsAToken) {
    EXPECT_EQ(Tokens{}, tokenize_words(""));
    EXPECT_EQ(Tokens{}, tokenize_words(" .,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`"));
    EXPECT_EQ((Tokens{"a", "b"}), tokenize_words("... a ! b ?"));
}

TEST(Tokenize, KeepsMultibyteLettersInsideWords) {
    EXPECT_EQ((Tokens{"café", "straße", "naïve"}), tokenize_words("café Straße naïve"));
    EXPECT_EQ((Tokens{"ひらがな", "カタカナ"}), tokenize_words("ひらがな カタカナ"));
    EXPECT_EQ((Tokens{"한국어", "문장"}), tokenize_words("한국어 문장"));
    EXPECT_EQ((Tokens{"x²", "µs", "½"}), tokenize_words("x² µs ½"));
    EXPECT_EQ((Tokens{"🙂ok"}), tokenize_words("🙂OK"));
}

TEST(Tokenize, LowercasesLatin1GreekAndCyrillic) {
    EXPECT_EQ((Tokens{"école", "àéîõü"}), tokenize_words("ÉCOLE ÀÉÎÕÜ"));
    EXPECT_EQ((Tokens{"αβγ", "ωμέγα"}), tokenize_words("ΑΒΓ ΩΜέγα"));
    EXPECT_EQ((Tokens{"привет", "мир", "ёж"}), tokenize_words("ПРИВЕТ Мир ЁЖ"));
    // Characters outside those blocks keep their case.
    EXPECT_EQ((Tokens{"ǅ", "Ա"}), tokenize_words("ǅ Ա"));
}

TEST(Tokenize, UnicodePunctuationAndSpacesSeparate) {
    // em dash, curly quotes, no-break space, ellipsis, guillemets, inverted question mark, multiplication sign.
    EXPECT_EQ((Tokens{"a", "b", "c", "d", "e", "f", "g", "h", "i"}), tokenize_words("a—b “c” d\u00A0e…f «g» ¿h×i"));
    // ideographic full stop and comma, fullwidth comma and colon, corner brackets, byte-order mark.
    EXPECT_EQ((Tokens{"ok", "yes", "no", "fine"}), tokenize_words("\uFEFFok。yes、no，「fine」："));
    // zero-width space splits.
    EXPECT_EQ((Tokens{"ab", "cd"}), tokenize_words("ab\u200Bcd"));
}

TEST(Tokenize, CjkIdeographsAreOneTokenEach) {
    EXPECT_EQ((Tokens{"我", "爱", "nlp", "模", "型"}), tokenize_words("我爱NLP模型"));
    EXPECT_EQ((Tokens{"日", "本", "語", "のテキスト"}), tokenize_words("日本語のテキスト"));  // kana form one word
    EXPECT_EQ((Tokens{"𠀀", "x"}), tokenize_words("𠀀x"));  // U+20000, CJK Extension B
}

TEST(Tokenize, MalformedUtf8IsKeptByteByByte) {
    EXPECT_EQ((Tokens{"a\xFF"
                      "b"}),
              tokenize_words("a\xFF"
                             "b"));                          // invalid byte
    EXPECT_EQ((Tokens{"a\x80"}), tokenize_words("a\x80 "));  // stray continuation byte
    EXPECT_EQ((Tokens{"\xC0\xAF"
                      "x"}),
              tokenize_words("\xC0\xAFx"));                                // overlong '/' is not a separator
    EXPECT_EQ((Tokens{"\xED\xA0\x80"}), tokenize_words("\xED\xA0\x80"));   // UTF-16 surrogate
    EXPECT_EQ((Tokens{"ok", "\xE2\x82"}), tokenize_words("ok \xE2\x82"));  // truncated at the end
    EXPECT_EQ((Tokens{"\xC3"
                      "a"}),
              tokenize_words("\xC3"
                             "A"));  // lead byte without continuation
}

TEST(Tokenize, StopWordsAreKeptByDefaultAndDroppedOnRequest) {
    const std::string text = "The cat is on the mat, and it is THERE with them";
    EXPECT_EQ((Tokens{"the", "cat", "is", "on", "the", "mat", "and", "it", "is", "there", "with", "them"}),
              tokenize_words(text));
    TokenizerOptions options;
    options.drop_stop_words = true;
    EXPECT_EQ((Tokens{"cat", "mat", "them"}), tokenize_words(text, options));
}

TEST(Tokenize, StopWordListIsLuceneClassicEnglishSorted) {
    const std::span<const std::string_view> words = english_stop_words();
    EXPECT_EQ(33u, words.size());
    EXPECT_TRUE(std::is_sorted(words.begin(), words.end()));
    EXPECT_TRUE(std::adjacent_find(words.begin(), words.end()) == words.end());
    for (const std::string_view word : words) {
        EXPECT_EQ((Tokens{std::string(word)}), tokenize_words(word)) << word;  // every entry survives tokenising
    }
}

// ---------------------------------------------------------------------------------------------------------------
// BM25 by hand.
//
// Corpus (k1 = 1.2, b = 0.75):
//   d0 = "the cat sat"              |d0| = 3
//   d1 = "the dog sat on the mat"   |d1| = 6
//   d2 = "cat cat dog"              |d2| = 3
// N = 3, avgdl = 12 / 3 = 4.
// df: the 2, cat 2, sat 2, dog 2, on 1, mat 1.
//   idf(df = 2) = ln(1 + (3 − 2 + 0.5) / (2 + 0.5)) = ln(1 + 1.5/2.5) = ln 1.6
//   idf(df = 1) = ln(1 + (3 − 1 + 0.5) / (1 + 0.5)) = ln(1 + 2.5/1.5) = ln(8/3)
// K(d) = 1.2 · (0.25 + 0.75 · |d| / 4):  K(d0) = K(d2) = 1.2 · 0.8125 = 0.975,  K(d1) = 1.2 · 1.375 = 1.65.
// Per-term contributions idf · tf · (k1 + 1) / (tf + K) with k1 + 1 = 2.2:
//   A = cat in d0 (tf 1) = dog in d2 (tf 1) = ln 1.6 · 2.2 / 1.975       = 0.523548346501579
//   B = mat in d1 (tf 1) = on in d1 (tf 1)  = ln(8/3) · 2.2 / 2.65       = 0.8142733421229427
//   C = dog in d1 (tf 1)                    = ln 1.6 · 2.2 / 2.65        = 0.39019169220400696
//   D = cat in d2 (tf 2)                    = ln 1.6 · 2 · 2.2 / 2.975   = 0.6951314180441133
// Query "cat mat" (weights 1, 1): d0 = A, d1 = B, d2 = D.
const std::vector<std::string> kCorpus = {"the cat sat", "the dog sat on the mat", "cat cat dog"};
constexpr double kA = 0.523548346501579;
constexpr double kB = 0.8142733421229427;
constexpr double kC = 0.39019169220400696;
constexpr double kD = 0.6951314180441133;
constexpr double kTol = 1e-14;

TEST(Bm25, CorpusStatisticsByHand) {
    const Bm25Index index = make_index(kCorpus);
    EXPECT_EQ(3u, index.n_docs());
    EXPECT_EQ(6u, index.n_terms());
    EXPECT_EQ(4.0, index.avg_doc_length());
    EXPECT_EQ(6u, index.doc_length(1));
    EXPECT_EQ(2u, index.document_frequency("cat"));
    EXPECT_EQ(1u, index.document_frequency("mat"));
    EXPECT_EQ(0u, index.document_frequency("bird"));
    EXPECT_EQ(0u, index.document_frequency("Cat"));  // terms are looked up as tokenised (lowercase)
    EXPECT_NEAR(std::log(1.6), index.idf(2), kTol);
    EXPECT_NEAR(std::log(8.0 / 3.0), index.idf(1), kTol);
    EXPECT_NEAR(std::log(1.0 + 3.5 / 0.5), index.idf(0), kTol);
    EXPECT_NEAR(std::log(1.0 + 0.5 / 3.5), index.idf(3), kTol);  // df = N: still positive (Lucene IDF)
}

TEST(Bm25, TwoTermQueryByHand) {
    const Bm25Index index = make_index(kCorpus);
    const Bm25Query q = index.query("Cat, MAT!");
    ASSERT_EQ(2u, q.n_terms());
    EXPECT_EQ((std::vector<double>{1.0, 1.0}), q.weights);
    EXPECT_NEAR(kA, index.score(q, 0), kTol);
    EXPECT_NEAR(kB, index.score(q, 1), kTol);
    EXPECT_NEAR(kD, index.score(q, 2), kTol);
    // Repeating a query term doubles its weight (k3 = ∞): "cat cat" on d2 = 2 D.
    EXPECT_NEAR(2 * kD, index.score(index.query("cat cat"), 2), kTol);
    // A term of the query that no document has contributes nothing and is dropped.
    const Bm25Query with_unknown = index.query("cat mat zebra");
    EXPECT_EQ(2u, with_unknown.n_terms());
    EXPECT_NEAR(kB, index.score(with_unknown, 1), kTol);
    EXPECT_EQ(0u, index.query("zebra giraffe").n_terms());
    EXPECT_EQ(0.0, index.score(index.query("zebra"), 0));
}

TEST(Bm25, ScoreEqualsScoreAllBitForBit) {
    const Bm25Index index = make_index(kCorpus);
    for (const std::string text : {"cat mat", "the dog sat on the mat", "cat cat dog the", "", "zebra sat"}) {
        const Bm25Query q = index.query(text);
        const std::vector<double> all = index.score_all(q);
        ASSERT_EQ(3u, all.size());
        for (uint64_t doc_idx = 0; doc_idx < 3; ++doc_idx) {
            EXPECT_EQ(all[doc_idx], index.score(q, doc_idx)) << "query \"" << text << "\" doc " << doc_idx;
        }
    }
}

// Target set: e0 = "cat mat" (|e0| = 2), e1 = "dog dog on bird" (|e1| = 4; "bird" is in no document).
// Per-exemplar BM25, from the contributions above:
//   BM25(e0, ·) = [A, B, D]
//   BM25(e1, ·) = [0, 2C + B, 2A]          (dog weight 2, on weight 1; d0 has neither)
// kPrototype: w = mean_j tf(t, e_j) / |e_j| → cat 1/4, mat 1/4, dog (2/4)/2 = 1/4, on (1/4)/2 = 1/8
//   d0 = A/4,  d1 = B/4 + C/4 + B/8,  d2 = D/4 + A/4
// kMeanScore: (BM25(e0) + BM25(e1)) / 2
//   d0 = A/2,  d1 = (B + 2C + B)/2 = B + C,  d2 = (D + 2A)/2
// kMaxScore:
//   d0 = A,  d1 = max(B, 2C + B) = 2C + B,  d2 = max(D, 2A) = 2A
const std::vector<std::string> kExemplars = {"cat mat", "dog dog on bird"};

TEST(Bm25, PrototypeAggregationByHand) {
    const Bm25Index index = make_index(kCorpus);
    const Bm25Query q = index.prototype_query(kExemplars, Bm25Aggregation::kPrototype);
    ASSERT_EQ(4u, q.n_terms());  // cat, dog, on, mat (bird dropped)
    std::vector<double> weights = q.weights;
    std::sort(weights.begin(), weights.end());
    EXPECT_EQ((std::vector<double>{0.125, 0.25, 0.25, 0.25}), weights);
    const std::vector<double> scores = index.score_target_set(kExemplars, Bm25Aggregation::kPrototype);
    ASSERT_EQ(3u, scores.size());
    EXPECT_NEAR(kA / 4, scores[0], kTol);
    EXPECT_NEAR(kB / 4 + kC / 4 + kB / 8, scores[1], kTol);
    EXPECT_NEAR(kD / 4 + kA / 4, scores[2], kTol);
}

TEST(Bm25, MeanScoreAggregationByHand) {
    const Bm25Index index = make_index(kCorpus);
    const std::vector<double> scores = index.score_target_set(kExemplars, Bm25Aggregation::kMeanScore);
    ASSERT_EQ(3u, scores.size());
    EXPECT_NEAR(kA / 2, scores[0], kTol);
    EXPECT_NEAR(kB + kC, scores[1], kTol);
    EXPECT_NEAR((kD + 2 * kA) / 2, scores[2], kTol);
}

TEST(Bm25, MaxScoreAggregationByHand) {
    const Bm25Index index = make_index(kCorpus);
    const std::vector<double> scores = index.score_target_set(kExemplars, Bm25Aggregation::kMaxScore);
    ASSERT_EQ(3u, scores.size());
    EXPECT_NEAR(kA, scores[0], kTol);
    EXPECT_NEAR(2 * kC + kB, scores[1], kTol);
    EXPECT_NEAR(2 * kA, scores[2], kTol);
}

// Random texts over a small vocabulary, so terms repeat within and across documents.
std::vector<std::string> random_texts(std::mt19937_64& rng, size_t n_texts, size_t max_words) {
    const std::vector<std::string> words = {"alpha", "beta",  "gamma",  "delta", "eps", "zeta", "eta", "theta",
                                            "iota",  "kappa", "lambda", "mu",    "nu",  "xi",   "pi",  "rho"};
    std::vector<std::string> texts;
    for (size_t text_idx = 0; text_idx < n_texts; ++text_idx) {
        const size_t n_words = rng() % (max_words + 1);
        std::string text;
        for (size_t word_idx = 0; word_idx < n_words; ++word_idx) {
            // Skewed towards the first words, like real term frequencies.
            const size_t pick = std::min(rng() % words.size(), rng() % words.size());
            text += words[pick] + " ";
        }
        texts.push_back(text);
    }
    return texts;
}

TEST(Bm25, AggregationsMatchTheirPerExemplarDefinitions) {
    for (const uint64_t seed : {1u, 2u, 3u}) {
        std::mt19937_64 rng(seed);
        const std::vector<std::string> docs = random_texts(rng, 40, 30);
        std::vector<std::string> exemplars = random_texts(rng, 7, 12);
        exemplars.push_back("");  // an exemplar without tokens counts in M but contributes nothing
        const Bm25Index index = make_index(docs);
        const std::vector<double> proto = index.score_target_set(exemplars, Bm25Aggregation::kPrototype);
        const std::vector<double> mean = index.score_target_set(exemplars, Bm25Aggregation::kMeanScore);
        const std::vector<double> max = index.score_target_set(exemplars, Bm25Aggregation::kMaxScore);
        std::string concatenated;
        for (const std::string& exemplar : exemplars) concatenated += exemplar + " ";
        const std::vector<double> concat = index.score_all(index.query(concatenated));
        const double n_exemplars = static_cast<double>(exemplars.size());
        for (uint64_t doc_idx = 0; doc_idx < docs.size(); ++doc_idx) {
            double expect_proto = 0.0;
            double expect_mean = 0.0;
            double expect_max = 0.0;
            for (const std::string& exemplar : exemplars) {
                const double s = index.score(index.query(exemplar), doc_idx);
                const size_t n_tokens = tokenize_words(exemplar).size();
                if (n_tokens > 0) expect_proto += s / static_cast<double>(n_tokens);
                expect_mean += s;
                expect_max = std::max(expect_max, s);
            }
            expect_proto /= n_exemplars;
            expect_mean /= n_exemplars;
            EXPECT_NEAR(expect_proto, proto[doc_idx], 1e-12) << "seed " << seed << " doc " << doc_idx;
            EXPECT_NEAR(expect_mean, mean[doc_idx], 1e-12) << "seed " << seed << " doc " << doc_idx;
            EXPECT_EQ(expect_max, max[doc_idx]) << "seed " << seed << " doc " << doc_idx;
            // Concatenating the exemplars into one query = M × kMeanScore, so it ranks identically.
            EXPECT_NEAR(n_exemplars * mean[doc_idx], concat[doc_idx], 1e-10) << "seed " << seed << " doc " << doc_idx;
        }
    }
}

TEST(Bm25, EmptyTargetSetScoresZero) {
    const Bm25Index index = make_index(kCorpus);
    for (const Bm25Aggregation aggregation :
         {Bm25Aggregation::kPrototype, Bm25Aggregation::kMeanScore, Bm25Aggregation::kMaxScore}) {
        EXPECT_EQ(std::vector<double>(3, 0.0), index.score_target_set({}, aggregation));
    }
}

TEST(Bm25, RankingSanity) {
    std::string long_text = "bread";
    for (int word_idx = 0; word_idx < 50; ++word_idx) long_text += " filler";
    const Bm25Index index = make_index({
        "how to bake sourdough bread at home",            // 0: on topic
        "sourdough bread sourdough starter bread flour",  // 1: more matches, same length class
        "the stock market fell sharply on monday",        // 2: off topic
        "bread",                                          // 3: one match in a very short document
        long_text,                                        // 4: one match in a 51-token document
    });
    const std::vector<double> scores = index.score_all(index.query("sourdough bread recipe"));
    EXPECT_GT(scores[1], scores[0]);  // more occurrences of the query terms
    EXPECT_GT(scores[0], scores[3]);  // two matched terms beat one
    EXPECT_EQ(0.0, scores[2]);        // nothing in common
    EXPECT_GT(scores[3], scores[4]);  // same single match, shorter document (b > 0)
}

TEST(Bm25, ParametersBehaveAsDocumented) {
    const std::vector<std::string> docs = {"apple", "apple pear plum fig kiwi lime", "apple apple apple apple"};
    Bm25Options no_length;
    no_length.b = 0.0;
    const Bm25Index flat = make_index(docs, no_length);
    const Bm25Query q = flat.query("apple");
    EXPECT_EQ(flat.score(q, 0), flat.score(q, 1));  // b = 0: length does not matter
    Bm25Options binary;
    binary.k1 = 0.0;
    const Bm25Index saturated = make_index(docs, binary);
    // k1 = 0: tf (k1 + 1) / (tf + 0) = 1, so every document containing the term scores idf.
    const double idf = saturated.idf(3);
    for (uint64_t doc_idx = 0; doc_idx < 3; ++doc_idx) {
        EXPECT_NEAR(idf, saturated.score(saturated.query("apple"), doc_idx), kTol) << doc_idx;
    }
    // Default k1: more occurrences score higher but saturate below (k1 + 1) idf.
    const Bm25Index standard = make_index(docs);
    const Bm25Query apple = standard.query("apple");
    EXPECT_GT(standard.score(apple, 2), standard.score(apple, 0));
    EXPECT_LT(standard.score(apple, 2), 2.2 * standard.idf(3));
}

TEST(Bm25, InvalidOptionsAreErrorsNamingTheValue) {
    struct Case {
        double k1;
        double b;
        const char* expect;
    };
    for (const Case& c : {Case{-0.5, 0.75, "k1 = -0.5"}, Case{NAN, 0.75, "k1 = nan"}, Case{INFINITY, 0.75, "k1 = inf"},
                          Case{1.2, 1.5, "b = 1.5"}, Case{1.2, -0.1, "b = -0.1"}, Case{1.2, NAN, "b = nan"}}) {
        Bm25Options options;
        options.k1 = c.k1;
        options.b = c.b;
        const Result<Bm25Index> index = Bm25Index::create(options);
        ASSERT_FALSE(index.ok()) << c.expect;
        EXPECT_EQ(StatusCode::kInvalidInput, index.status().code());
        EXPECT_NE(std::string::npos, index.status().message().find(c.expect)) << index.status().message();
    }
}

TEST(Bm25, AggregationNamesRoundTrip) {
    for (const Bm25Aggregation aggregation :
         {Bm25Aggregation::kPrototype, Bm25Aggregation::kMeanScore, Bm25Aggregation::kMaxScore}) {
        const Result<Bm25Aggregation> parsed = parse_bm25_aggregation(bm25_aggregation_name(aggregation));
        ASSERT_TRUE(parsed.ok());
        EXPECT_EQ(aggregation, parsed.value());
    }
    const Result<Bm25Aggregation> bad = parse_bm25_aggregation("median");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(StatusCode::kInvalidInput, bad.status().code());
    EXPECT_NE(std::string::npos, bad.status().message().find("\"median\"")) << bad.status().message();
}

TEST(Bm25, EmptyIndexAndEmptyDocuments) {
    const Bm25Index empty = make_index({});
    EXPECT_EQ(0u, empty.n_docs());
    EXPECT_EQ(0.0, empty.avg_doc_length());
    EXPECT_TRUE(empty.score_target_set(kExemplars, Bm25Aggregation::kPrototype).empty());
    // Documents without tokens are valid, have length 0 and score 0.
    const Bm25Index blanks = make_index({"", "...", ""});
    EXPECT_EQ(3u, blanks.n_docs());
    EXPECT_EQ(0.0, blanks.avg_doc_length());
    EXPECT_EQ(std::vector<double>(3, 0.0), blanks.score_target_set(kExemplars, Bm25Aggregation::kMaxScore));
    const Bm25Index mixed = make_index({"", "cat", ""});
    EXPECT_EQ(0.0, mixed.score(mixed.query("cat"), 0));
    EXPECT_GT(mixed.score(mixed.query("cat"), 1), 0.0);
}

TEST(Bm25, StreamingAddsMatchAFreshIndex) {
    std::mt19937_64 rng(7);
    const std::vector<std::string> docs = random_texts(rng, 30, 20);
    const std::vector<std::string> first_half(docs.begin(), docs.begin() + 15);
    Bm25Index growing = make_index(first_half);
    const Bm25Query early_query = growing.query("alpha beta gamma");  // made before the second half is added
    ASSERT_EQ(3u, early_query.n_terms());
    for (size_t doc_idx = 15; doc_idx < docs.size(); ++doc_idx) ASSERT_TRUE(growing.add_document(docs[doc_idx]).ok());
    const Bm25Index fresh = make_index(docs);
    EXPECT_EQ(fresh.score_all(fresh.query("alpha beta gamma")), growing.score_all(early_query));
    EXPECT_EQ(fresh.score_target_set(docs, Bm25Aggregation::kPrototype),
              growing.score_target_set(docs, Bm25Aggregation::kPrototype));
}

TEST(Bm25, PreTokenisedDocumentsAreUsedAsGiven) {
    Result<Bm25Index> index = Bm25Index::create();
    ASSERT_TRUE(index.ok());
    ASSERT_TRUE(index->add_document_tokens(Tokens{"Cat", "sat"}).ok());
    ASSERT_TRUE(index->add_document("cat").ok());
    EXPECT_EQ(1u, index->document_frequency("Cat"));
    EXPECT_EQ(1u, index->document_frequency("cat"));
    EXPECT_EQ(1u, index->query_from_tokens(Tokens{"Cat"}).n_terms());
    EXPECT_EQ(0.0, index->score(index->query_from_tokens(Tokens{"Cat"}), 1));
}

TEST(Bm25, StopWordOptionAppliesToDocumentsAndQueries) {
    Bm25Options options;
    options.tokenizer.drop_stop_words = true;
    const Bm25Index index = make_index(kCorpus, options);
    EXPECT_EQ(0u, index.document_frequency("the"));
    // d0 = cat sat, d1 = dog sat mat ("the", "on" dropped), d2 = cat cat dog: 4 terms, avgdl = (2 + 3 + 3) / 3.
    EXPECT_EQ(4u, index.n_terms());
    EXPECT_EQ(8.0 / 3.0, index.avg_doc_length());
    EXPECT_EQ(0u, index.query("the on").n_terms());
}

}  // namespace
}  // namespace mona
