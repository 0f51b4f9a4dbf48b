#include "score/bm25.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

namespace mona {

namespace {

constexpr uint64_t kMaxCount = std::numeric_limits<uint32_t>::max();

// Sorted, so english_stop_words() can be searched with std::binary_search.
constexpr std::array<std::string_view, 33> kEnglishStopWords = {
    "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
    "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
    "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with"};

bool is_ascii_alnum(unsigned char byte) {
    return (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z');
}

// Strict UTF-8 decoding of the sequence starting at text[pos]. Returns the code point and the sequence length,
// or length 0 when the bytes there are not a well-formed sequence (then the caller keeps one raw byte).
std::pair<uint32_t, size_t> decode_utf8(std::string_view text, size_t pos) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    size_t length = 0;
    uint32_t code_point = 0;
    uint32_t min_code_point = 0;
    if (lead >= 0xC0 && lead <= 0xDF) {
        length = 2;
        code_point = lead & 0x1Fu;
        min_code_point = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        code_point = lead & 0x0Fu;
        min_code_point = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        code_point = lead & 0x07u;
        min_code_point = 0x10000;
    } else {
        return {0, 0};
    }
    if (pos + length > text.size()) return {0, 0};
    for (size_t byte_idx = 1; byte_idx < length; ++byte_idx) {
        const auto byte = static_cast<unsigned char>(text[pos + byte_idx]);
        if ((byte & 0xC0u) != 0x80u) return {0, 0};
        code_point = (code_point << 6) | (byte & 0x3Fu);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not well-formed UTF-8.
    if (code_point < min_code_point || (code_point >= 0xD800 && code_point <= 0xDFFF) || code_point > 0x10FFFF) {
        return {0, 0};
    }
    return {code_point, length};
}

void append_utf8(std::string& out, uint32_t code_point) {
    if (code_point < 0x80) {
        out.push_back(static_cast<char>(code_point));
    } else if (code_point < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
        out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
        out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
}

bool is_separator(uint32_t code_point) {
    if (code_point >= 0x80 && code_point <= 0xBF) {
        // Letter-like ª µ º, superscript digits and vulgar fractions stay word characters.
        switch (code_point) {
            case 0xAA:
            case 0xB2:
            case 0xB3:
            case 0xB5:
            case 0xB9:
            case 0xBA:
            case 0xBC:
            case 0xBD:
            case 0xBE: return false;
            default: return true;
        }
    }
    return code_point == 0xD7 || code_point == 0xF7 || (code_point >= 0x2000 && code_point <= 0x206F) ||
           (code_point >= 0x2E00 && code_point <= 0x2E7F) || (code_point >= 0x3000 && code_point <= 0x303F) ||
           code_point == 0xFEFF || (code_point >= 0xFF01 && code_point <= 0xFF0F) ||
           (code_point >= 0xFF1A && code_point <= 0xFF20) || (code_point >= 0xFF3B && code_point <= 0xFF40) ||
           (code_point >= 0xFF5B && code_point <= 0xFF65);
}

bool is_cjk_ideograph(uint32_t code_point) {
    return (code_point >= 0x3400 && code_point <= 0x4DBF) || (code_point >= 0x4E00 && code_point <= 0x9FFF) ||
           (code_point >= 0xF900 && code_point <= 0xFAFF) || (code_point >= 0x20000 && code_point <= 0x2FA1F);
}

uint32_t simple_lowercase(uint32_t code_point) {
    if (code_point >= 0xC0 && code_point <= 0xDE && code_point != 0xD7) return code_point + 0x20;     // Latin-1
    if (code_point >= 0x391 && code_point <= 0x3A9 && code_point != 0x3A2) return code_point + 0x20;  // Greek
    if (code_point >= 0x410 && code_point <= 0x42F) return code_point + 0x20;  // Cyrillic А–Я
    if (code_point >= 0x400 && code_point <= 0x40F) return code_point + 0x50;  // Cyrillic Ѐ–Џ
    return code_point;
}

bool is_stop_word(std::string_view word) {
    return std::binary_search(kEnglishStopWords.begin(), kEnglishStopWords.end(), word);
}

}  // namespace

std::vector<std::string> tokenize_words(std::string_view text, const TokenizerOptions& options) {
    std::vector<std::string> tokens;
    std::string current;
    auto flush = [&]() {
        if (current.empty()) return;
        if (!options.drop_stop_words || !is_stop_word(current)) tokens.push_back(std::move(current));
        current.clear();
    };
    size_t pos = 0;
    while (pos < text.size()) {
        const auto byte = static_cast<unsigned char>(text[pos]);
        if (byte < 0x80) {
            if (is_ascii_alnum(byte)) {
                current.push_back(static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte));
            } else {
                flush();
            }
            ++pos;
            continue;
        }
        const auto [code_point, length] = decode_utf8(text, pos);
        if (length == 0) {
            current.push_back(static_cast<char>(byte));
            ++pos;
            continue;
        }
        if (is_separator(code_point)) {
            flush();
        } else if (is_cjk_ideograph(code_point)) {
            flush();
            append_utf8(current, code_point);
            flush();
        } else {
            append_utf8(current, simple_lowercase(code_point));
        }
        pos += length;
    }
    flush();
    return tokens;
}

std::span<const std::string_view> english_stop_words() { return kEnglishStopWords; }

Result<Bm25Aggregation> parse_bm25_aggregation(std::string_view name) {
    if (name == "prototype") return Bm25Aggregation::kPrototype;
    if (name == "mean") return Bm25Aggregation::kMeanScore;
    if (name == "max") return Bm25Aggregation::kMaxScore;
    return invalid_input("bm25 aggregation \"" + std::string(name) + "\": expected one of prototype, mean, max");
}

const char* bm25_aggregation_name(Bm25Aggregation aggregation) {
    switch (aggregation) {
        case Bm25Aggregation::kPrototype: return "prototype";
        case Bm25Aggregation::kMeanScore: return "mean";
        case Bm25Aggregation::kMaxScore: return "max";
    }
    return "?";
}

Result<Bm25Index> Bm25Index::create(const Bm25Options& options) {
    if (!std::isfinite(options.k1) || options.k1 < 0.0) {
        return invalid_input(fmt::format("bm25 k1 = {}: expected a finite number >= 0", options.k1));
    }
    if (!(options.b >= 0.0 && options.b <= 1.0)) {
        return invalid_input(fmt::format("bm25 b = {}: expected a number in [0, 1]", options.b));
    }
    return Bm25Index(options);
}

Status Bm25Index::add_document(std::string_view text) {
    const std::vector<std::string> tokens = tokenize_words(text, options_.tokenizer);
    return add_document_tokens(tokens);
}

Status Bm25Index::add_document_tokens(std::span<const std::string> tokens) {
    if (n_docs() >= kMaxCount) {
        return unsupported("bm25: more than " + std::to_string(kMaxCount) + " documents");
    }
    if (tokens.size() > kMaxCount) {
        return unsupported("bm25: document " + std::to_string(n_docs()) + " has " + std::to_string(tokens.size()) +
                           " tokens, more than " + std::to_string(kMaxCount));
    }
    // Distinct terms in order of first appearance, counted first, so that a vocabulary overflow leaves the index
    // unchanged and new term ids do not depend on hash-map order.
    std::unordered_map<std::string_view, uint32_t> slot_of;
    std::vector<std::pair<std::string_view, uint32_t>> term_counts;
    for (const std::string& token : tokens) {
        const auto [it, inserted] = slot_of.try_emplace(token, static_cast<uint32_t>(term_counts.size()));
        if (inserted) term_counts.emplace_back(token, 0);
        ++term_counts[it->second].second;
    }
    uint64_t n_new_terms = 0;
    for (const auto& [term, count] : term_counts) n_new_terms += vocab_.find(term) == vocab_.end() ? 1 : 0;
    if (n_terms() + n_new_terms > kMaxCount) {
        return unsupported("bm25: more than " + std::to_string(kMaxCount) + " distinct terms");
    }
    const auto doc_idx = static_cast<uint32_t>(n_docs());
    for (const auto& [term, count] : term_counts) {
        auto it = vocab_.find(term);
        if (it == vocab_.end()) {
            it = vocab_.emplace(std::string(term), static_cast<uint32_t>(postings_.size())).first;
            postings_.emplace_back();
        }
        postings_[it->second].push_back(Posting{doc_idx, count});
    }
    doc_lengths_.push_back(static_cast<uint32_t>(tokens.size()));
    total_length_ += tokens.size();
    return Status::ok_status();
}

double Bm25Index::avg_doc_length() const {
    if (doc_lengths_.empty()) return 0.0;
    return static_cast<double>(total_length_) / static_cast<double>(doc_lengths_.size());
}

uint32_t Bm25Index::doc_length(uint64_t doc_idx) const {
    MONA_ASSERT(doc_idx < n_docs(), "Bm25Index::doc_length: doc_idx out of range");
    return doc_lengths_[doc_idx];
}

uint64_t Bm25Index::document_frequency(std::string_view term) const {
    const auto it = vocab_.find(term);
    return it == vocab_.end() ? 0 : postings_[it->second].size();
}

double Bm25Index::idf(uint64_t df) const {
    const double n = static_cast<double>(n_docs());
    const double d = static_cast<double>(df);
    return std::log1p((n - d + 0.5) / (d + 0.5));
}

double Bm25Index::length_norm(uint32_t doc_length) const {
    const double avgdl = avg_doc_length();
    if (avgdl <= 0.0) return options_.k1;
    return options_.k1 * (1.0 - options_.b + options_.b * static_cast<double>(doc_length) / avgdl);
}

std::vector<std::pair<uint32_t, uint32_t>> Bm25Index::known_term_counts(std::span<const std::string> tokens) const {
    std::unordered_map<uint32_t, uint32_t> counts;
    for (const std::string& token : tokens) {
        const auto it = vocab_.find(token);
        if (it != vocab_.end()) ++counts[it->second];
    }
    std::vector<std::pair<uint32_t, uint32_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end());
    return sorted;
}

Bm25Query Bm25Index::query(std::string_view text) const {
    const std::vector<std::string> tokens = tokenize_words(text, options_.tokenizer);
    return query_from_tokens(tokens);
}

Bm25Query Bm25Index::query_from_tokens(std::span<const std::string> tokens) const {
    Bm25Query q;
    for (const auto& [term_id, count] : known_term_counts(tokens)) {
        q.term_ids.push_back(term_id);
        q.weights.push_back(static_cast<double>(count));
    }
    return q;
}

Bm25Query Bm25Index::prototype_query(std::span<const std::string> exemplars, Bm25Aggregation aggregation) const {
    MONA_ASSERT(aggregation != Bm25Aggregation::kMaxScore, "Bm25Index::prototype_query: kMaxScore has no single query");
    // Weights are accumulated per term in exemplar order and divided by M once, so the result does not depend on
    // hash-map iteration order.
    std::unordered_map<uint32_t, double> sums;
    for (const std::string& exemplar : exemplars) {
        const std::vector<std::string> tokens = tokenize_words(exemplar, options_.tokenizer);
        if (tokens.empty()) continue;
        const double scale =
            aggregation == Bm25Aggregation::kPrototype ? 1.0 / static_cast<double>(tokens.size()) : 1.0;
        for (const auto& [term_id, count] : known_term_counts(tokens)) {
            sums[term_id] += static_cast<double>(count) * scale;
        }
    }
    std::vector<std::pair<uint32_t, double>> sorted(sums.begin(), sums.end());
    std::sort(sorted.begin(), sorted.end());
    Bm25Query q;
    const double n_exemplars = static_cast<double>(exemplars.size());
    for (const auto& [term_id, sum] : sorted) {
        q.term_ids.push_back(term_id);
        q.weights.push_back(sum / n_exemplars);
    }
    return q;
}

// score() and score_all() evaluate the same expressions, term by term in increasing term id, so they agree
// bit for bit: coefficient = w · idf · (k1 + 1), contribution = coefficient · tf / (tf + K(d)).
double Bm25Index::score(const Bm25Query& q, uint64_t doc_idx) const {
    MONA_ASSERT(doc_idx < n_docs(), "Bm25Index::score: doc_idx out of range");
    MONA_ASSERT(q.term_ids.size() == q.weights.size(), "Bm25Index::score: query term_ids and weights differ in size");
    const double k = length_norm(doc_lengths_[doc_idx]);
    double total = 0.0;
    for (size_t term_idx = 0; term_idx < q.term_ids.size(); ++term_idx) {
        MONA_ASSERT(q.term_ids[term_idx] < n_terms(), "Bm25Index::score: query from another index");
        const std::vector<Posting>& postings = postings_[q.term_ids[term_idx]];
        const auto it = std::lower_bound(postings.begin(), postings.end(), doc_idx,
                                         [](const Posting& posting, uint64_t idx) { return posting.doc_idx < idx; });
        if (it == postings.end() || it->doc_idx != doc_idx) continue;
        const double coefficient = q.weights[term_idx] * idf(postings.size()) * (options_.k1 + 1.0);
        const double tf = static_cast<double>(it->tf);
        total += coefficient * tf / (tf + k);
    }
    return total;
}

std::vector<double> Bm25Index::score_all(const Bm25Query& q) const {
    MONA_ASSERT(q.term_ids.size() == q.weights.size(),
                "Bm25Index::score_all: query term_ids and weights differ in size");
    std::vector<double> scores(n_docs(), 0.0);
    if (q.term_ids.empty()) return scores;
    std::vector<double> k(n_docs());
    for (size_t doc_idx = 0; doc_idx < k.size(); ++doc_idx) k[doc_idx] = length_norm(doc_lengths_[doc_idx]);
    for (size_t term_idx = 0; term_idx < q.term_ids.size(); ++term_idx) {
        MONA_ASSERT(q.term_ids[term_idx] < n_terms(), "Bm25Index::score_all: query from another index");
        const std::vector<Posting>& postings = postings_[q.term_ids[term_idx]];
        const double coefficient = q.weights[term_idx] * idf(postings.size()) * (options_.k1 + 1.0);
        for (const Posting& posting : postings) {
            const double tf = static_cast<double>(posting.tf);
            scores[posting.doc_idx] += coefficient * tf / (tf + k[posting.doc_idx]);
        }
    }
    return scores;
}

std::vector<double> Bm25Index::score_target_set(std::span<const std::string> exemplars,
                                                Bm25Aggregation aggregation) const {
    if (aggregation != Bm25Aggregation::kMaxScore) return score_all(prototype_query(exemplars, aggregation));
    std::vector<double> best(n_docs(), 0.0);
    bool first = true;
    for (const std::string& exemplar : exemplars) {
        const std::vector<double> scores = score_all(query(exemplar));
        if (first) {
            best = scores;
            first = false;
        } else {
            for (size_t doc_idx = 0; doc_idx < best.size(); ++doc_idx)
                best[doc_idx] = std::max(best[doc_idx], scores[doc_idx]);
        }
    }
    return best;
}

}  // namespace mona
