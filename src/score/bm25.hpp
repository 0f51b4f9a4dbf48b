// score/bm25.hpp: the BM25 baseline of `mona eval` (issue 4) and the word tokeniser shared with score/metrics.hpp.
//
// The MoNA paper compares its selection with Okapi BM25 (method.md, "What the paper measured"). This module
// scores every pool sample (a "document") against the target exemplars of one task, so the `bm25` method can go
// through the same top-n (score/topn.hpp) as `mona`. It needs no model: text in, one double per pool sample out.
//
// Tokeniser (tokenize_words). Word tokens for BM25, distinct-n and MTLD, meant to behave sensibly on real
// instruction data (English prose, code, maths, other scripts). It works on UTF-8 and never fails:
//   * ASCII letters and digits are word characters; ASCII letters are lowercased. Every other ASCII byte
//     (space, control, punctuation, symbols such as `_ + = ( )`) separates words and is dropped. So "x_1+y" gives
//     x, 1, y, and "don't" gives don, t. Punctuation never forms a token, which covers the usual "drop
//     one-character punctuation tokens" rule.
//   * A multibyte UTF-8 character is a word character, except for separators:
//       U+0080–U+00BF (C1 controls, no-break space, Latin-1 punctuation and symbols) but not the letter-like
//       ª µ º, superscripts ² ³ ¹ and fractions ¼ ½ ¾; × and ÷; U+2000–U+206F (General Punctuation: typographic
//       spaces, dashes, curly quotes, bullets, ellipsis, zero-width characters); U+2E00–U+2E7F; U+3000–U+303F
//       (CJK spaces and punctuation such as 、。「」); U+FEFF (byte-order mark); the fullwidth forms of ASCII
//       punctuation U+FF01–U+FF0F, U+FF1A–U+FF20, U+FF3B–U+FF40, U+FF5B–U+FF65.
//   * CJK ideographs (U+3400–U+4DBF, U+4E00–U+9FFF, U+F900–U+FAFF, U+20000–U+2FA1F) are one token each, since
//     Chinese and Japanese do not separate words by spaces (the BERT basic-tokenizer rule). Kana, Hangul and
//     the other scripts form ordinary words.
//   * Simple lowercasing beyond ASCII: Latin-1 À–Þ (not ×), basic Greek Α–Ω and Cyrillic Ѐ–Я. Other characters
//     are kept as written (no Unicode normalisation, no stemming).
//   * Malformed UTF-8 (stray continuation bytes, overlong forms, surrogates, truncated sequences) is not an
//     error: each offending byte is kept as a word byte on its own, so no input is lost or rejected.
//   * Optional English stop words (TokenizerOptions::drop_stop_words, OFF by default): the 33 words of Lucene's
//     classic English stop set, listed by english_stop_words(). Off by default because BM25's IDF already gives
//     such words almost no weight, and because distinct-n and MTLD (score/metrics.hpp) are defined over all
//     words; switch it on to reproduce Lucene-style analysers.
//
// BM25 (Robertson et al., Okapi; the Lucene IDF). With N documents, df(t) documents containing term t, tf(t, d)
// occurrences of t in document d, |d| tokens in d and avgdl the mean |d| over the index:
//   idf(t)     = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))                (>= 0, unlike the original Okapi IDF)
//   K(d)       = k1 · (1 − b + b · |d| / avgdl)                            (K(d) = k1 when avgdl = 0)
//   BM25(q, d) = Σ_{t ∈ q} w_q(t) · idf(t) · tf(t, d) · (k1 + 1) / (tf(t, d) + K(d))
// with w_q(t) the query's weight of t. For a query text w_q(t) is its term count in the query (Okapi with
// k3 = ∞, and what summing one clause per query token gives in Lucene or rank_bm25). The (k1 + 1) factor of
// classic Okapi is kept; Lucene >= 8 drops it, which scales every score by the same constant and leaves rankings
// unchanged. Query terms that occur in no document contribute nothing and are dropped from a Bm25Query.
//
// A target SET (Bm25Aggregation). MoNA turns the M exemplars into one prototype, z_tgt = (1/M) Σ_j z(s_j), where
// z(s) is the MEAN over the sample's tokens (method.md steps 1d and 2). The default here, kPrototype, is the same
// construction with one-hot word features in place of SAE codes: the query is the mean over exemplars of each
// exemplar's term distribution,
//   w(t) = (1/M) Σ_j tf(t, e_j) / |e_j|                  (an exemplar with no tokens contributes nothing)
// and every pool sample gets BM25 of this "prototype query". Because BM25 is linear in the query weights this is
// the mean over exemplars of BM25(e_j, d) / |e_j| (up to rounding): each exemplar has the same say whatever its
// length, as in MoNA, where mean pooling (not sum) removed a length bias that the paper measured. It costs one
// pass over the index, like a single query. (An informal check on shared/data/bench, 10 labelled tasks with n =
// the task's pool count: kPrototype had the best precision on 8 of 10 targets, far ahead of kMeanScore where
// exemplar lengths vary a lot, e.g. knowledge_mc 0.64 vs 0.26; kMaxScore won on the many-sub-task
// multistep_reasoning set, 0.57 vs 0.22.) The alternatives, selectable for ablations:
//   kMeanScore: the mean of the plain per-exemplar scores, (1/M) Σ_j BM25(e_j, d), computed as one query with
//               w(t) = (1/M) Σ_j tf(t, e_j). Concatenating all exemplars into one query text ranks identically
//               (its scores are M times these). Long exemplars weigh more.
//   kMaxScore:  max_j BM25(e_j, d), a nearest-exemplar rule for targets made of many sub-tasks (the weakness of a
//               single prototype noted in method.md); costs M passes.
// The scale of the scores differs between the three; only the order within one aggregation means anything.
//
// Usage sketch: create a Bm25Index with Bm25Options, add_document() every pool text in pool order (streaming is
// fine: document frequencies and avgdl are kept as running counts, and only a postings list is held), then call
// score_target_set(exemplar texts, kPrototype) to get one score per pool sample, and pass them to top_n().
// score() scores a single document; query() and prototype_query() expose the queries themselves.
//
// Memory: an inverted index, 8 bytes per (document, distinct term) pair (plus vector growth slack), 4 bytes per
// document for its length, and the vocabulary (one std::string per distinct term). The texts are not kept.
//
// Thread-safety: tokenize_words() is pure. Const member functions of Bm25Index may run concurrently; add_document()
// needs exclusive access.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mona/status.hpp"

namespace mona {

struct TokenizerOptions {
    bool drop_stop_words = false;  // drop the words of english_stop_words() (compared after lowercasing)
};

// Splits UTF-8 text into lowercased word tokens by the rules in the header comment, in text order.
std::vector<std::string> tokenize_words(std::string_view text, const TokenizerOptions& options = {});

// The stop words dropped by TokenizerOptions::drop_stop_words: Lucene's classic English set (33 words: a, an,
// and, are, as, at, be, but, by, for, if, in, into, is, it, no, not, of, on, or, such, that, the, their, then,
// there, these, they, this, to, was, will, with), sorted.
std::span<const std::string_view> english_stop_words();

enum class Bm25Aggregation {
    kPrototype,  // BM25 of the prototype query w(t) = (1/M) Σ_j tf(t, e_j) / |e_j|  (default, see header comment)
    kMeanScore,  // (1/M) Σ_j BM25(e_j, d)
    kMaxScore,   // max_j BM25(e_j, d)
};

// Parses "prototype" | "mean" | "max". Anything else: kInvalidInput naming the value and the accepted names.
Result<Bm25Aggregation> parse_bm25_aggregation(std::string_view name);
// "prototype" | "mean" | "max".
const char* bm25_aggregation_name(Bm25Aggregation aggregation);

struct Bm25Options {
    double k1 = 1.2;             // term-frequency saturation, finite and >= 0 (0: a term counts once per document)
    double b = 0.75;             // document-length normalisation, in [0, 1] (0: none, 1: full)
    TokenizerOptions tokenizer;  // how documents and queries are split into terms
};

// A weighted query in the vocabulary of one Bm25Index: only terms present in that index, ids strictly
// increasing, weights > 0. Term ids stay valid while more documents are added to the index.
struct Bm25Query {
    std::vector<uint32_t> term_ids;
    std::vector<double> weights;  // [term_ids.size()], w_q(t)

    size_t n_terms() const { return term_ids.size(); }
};

class Bm25Index {
   public:
    // Checks the options: kInvalidInput when k1 is negative or not finite, or b is outside [0, 1] (naming the
    // value). The index starts empty.
    static Result<Bm25Index> create(const Bm25Options& options = {});

    // Tokenises `text` with options().tokenizer and appends it as document n_docs() (0-based, in call order).
    // An empty text is a valid document of length 0. kUnsupported when the index would exceed 2^32 − 1
    // documents, distinct terms, or tokens in one document (nothing is added then).
    Status add_document(std::string_view text);
    // The same for an already tokenised document (tokens are used as given, no lowercasing or stop words).
    Status add_document_tokens(std::span<const std::string> tokens);

    uint64_t n_docs() const { return doc_lengths_.size(); }
    uint64_t n_terms() const { return postings_.size(); }  // distinct terms seen in the documents
    // avgdl: mean document length in tokens, 0 for an empty index.
    double avg_doc_length() const;
    // |d| in tokens. Precondition (asserted): doc_idx < n_docs().
    uint32_t doc_length(uint64_t doc_idx) const;
    // df(t) for a term as it appears after tokenisation (e.g. lowercase); 0 for a term not in the index.
    uint64_t document_frequency(std::string_view term) const;
    // idf(t) from the current counts, for any df including 0.
    double idf(uint64_t df) const;

    // Query of one text: tokenised like the documents, w_q(t) = term count; unknown terms dropped.
    Bm25Query query(std::string_view text) const;
    Bm25Query query_from_tokens(std::span<const std::string> tokens) const;
    // The single query of a linear aggregation over `exemplars` (kPrototype or kMeanScore; see the header
    // comment). No exemplars gives the empty query. Precondition (asserted): aggregation != kMaxScore, which has
    // no single query.
    Bm25Query prototype_query(std::span<const std::string> exemplars, Bm25Aggregation aggregation) const;

    // BM25(q, d) with the current N, df and avgdl. O(|q| log df). Equal bit for bit to score_all(q)[doc_idx].
    // Preconditions (asserted): doc_idx < n_docs(); q was made by this index.
    double score(const Bm25Query& q, uint64_t doc_idx) const;
    // BM25(q, d) for every document: [n_docs()]. O(n_docs() + Σ_{t ∈ q} df(t)).
    std::vector<double> score_all(const Bm25Query& q) const;
    // Scores of every document against the target set `exemplars` under `aggregation`: [n_docs()]. An empty
    // target set scores every document 0.
    std::vector<double> score_target_set(std::span<const std::string> exemplars, Bm25Aggregation aggregation) const;

    const Bm25Options& options() const { return options_; }

   private:
    struct Posting {
        uint32_t doc_idx;
        uint32_t tf;
    };

    explicit Bm25Index(const Bm25Options& options) : options_(options) {}

    // K(d) for a document of `doc_length` tokens under the current avgdl.
    double length_norm(uint32_t doc_length) const;
    // (term id, count) pairs of the tokens that are in the vocabulary, sorted by term id.
    std::vector<std::pair<uint32_t, uint32_t>> known_term_counts(std::span<const std::string> tokens) const;

    // Lets vocab_ be searched with a string_view without building a std::string.
    struct TermHash {
        using is_transparent = void;
        size_t operator()(std::string_view term) const { return std::hash<std::string_view>{}(term); }
    };

    Bm25Options options_;
    // term → term id; ids in order of first appearance (document order, then token order), so they and every
    // floating-point sum ordered by them are the same on every platform.
    std::unordered_map<std::string, uint32_t, TermHash, std::equal_to<>> vocab_;
    std::vector<std::vector<Posting>> postings_;  // [n_terms], each sorted by doc_idx
    std::vector<uint32_t> doc_lengths_;           // [n_docs]
    uint64_t total_length_ = 0;                   // Σ |d|
};

}  // namespace mona
