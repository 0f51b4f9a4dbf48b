#include "demo/demo_corpus.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace mona {
namespace {

size_t count_words(const std::string& text) {
    std::istringstream in(text);
    size_t n_words = 0;
    std::string word;
    while (in >> word) ++n_words;
    return n_words;
}

uint64_t fnv1a64(const std::string& bytes) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char ch : bytes) {
        h ^= ch;
        h *= 0x100000001b3ull;
    }
    return h;
}

TEST(DemoCorpus, HasAtLeastSixDistinctFamilies) {
    const std::vector<std::string> families = demo_families();
    EXPECT_GE(families.size(), 6u);
    EXPECT_EQ(families.size(), std::set<std::string>(families.begin(), families.end()).size());
    const std::set<std::string> names(families.begin(), families.end());
    for (const char* expected : {"math_word_problems", "code_generation", "translation", "sentiment_classification",
                                 "summarization", "trivia_qa"})
        EXPECT_EQ(1u, names.count(expected)) << expected;
}

TEST(DemoCorpus, SameSeedGivesIdenticalBytes) {
    EXPECT_EQ(to_jsonl(demo_pool(7, 20)), to_jsonl(demo_pool(7, 20)));
    EXPECT_EQ(to_jsonl(demo_targets("translation", 7, 10)), to_jsonl(demo_targets("translation", 7, 10)));
    EXPECT_EQ(demo_training_texts(7, 50), demo_training_texts(7, 50));
}

TEST(DemoCorpus, DifferentSeedGivesDifferentOutput) {
    EXPECT_NE(to_jsonl(demo_pool(7, 20)), to_jsonl(demo_pool(8, 20)));
    EXPECT_NE(to_jsonl(demo_targets("summarization", 7, 10)), to_jsonl(demo_targets("summarization", 8, 10)));
    EXPECT_NE(demo_training_texts(7, 50), demo_training_texts(8, 50));
}

// Pins the exact output across compilers and standard libraries. If the templates change on purpose, print the
// new value and update it here (and say so in the commit message).
TEST(DemoCorpus, FingerprintIsStable) {
    const std::string bytes = to_jsonl(demo_pool(1, 3)) + to_jsonl(demo_targets("math_word_problems", 1, 3));
    EXPECT_EQ(0x1a62a3f180e3c653ull, fnv1a64(bytes)) << "fingerprint changed: 0x" << std::hex << fnv1a64(bytes);
}

TEST(DemoCorpus, PoolHasPerFamilyCountsLabelsAndUniqueIds) {
    const int per_family = 25;
    const std::vector<DemoSample> pool = demo_pool(3, per_family);
    const std::vector<std::string> families = demo_families();
    ASSERT_EQ(families.size() * per_family, pool.size());
    std::map<std::string, int> counts;
    std::set<std::string> ids;
    for (const DemoSample& s : pool) {
        ++counts[s.task];
        ids.insert(s.id);
        EXPECT_FALSE(s.user.empty()) << s.id;
        EXPECT_FALSE(s.assistant.empty()) << s.id;
    }
    EXPECT_EQ(pool.size(), ids.size());
    EXPECT_EQ("pool-00000", pool[0].id);
    for (const std::string& family : families) EXPECT_EQ(per_family, counts[family]) << family;
    EXPECT_EQ(families.size(), counts.size());
    // Shuffled: the first per_family samples are not all of one family.
    std::set<std::string> head;
    for (int pos = 0; pos < per_family; ++pos) head.insert(pool[pos].task);
    EXPECT_GT(head.size(), 1u);
}

TEST(DemoCorpus, EmptyForNonPositiveCountsAndUnknownTask) {
    EXPECT_TRUE(demo_pool(1, 0).empty());
    EXPECT_TRUE(demo_pool(1, -3).empty());
    EXPECT_TRUE(demo_targets("math_word_problems", 1, 0).empty());
    EXPECT_TRUE(demo_targets("no_such_family", 1, 5).empty());
    EXPECT_TRUE(demo_training_texts(1, -1).empty());
    EXPECT_EQ("", to_jsonl({}));
}

// Every "a op b = c" printed anywhere in a math answer must be exact, the final answer must be the result of the
// last step, and the numbers of the first step must come from the question.
void check_math(const DemoSample& s) {
    static const std::regex kEquation(R"((\d+) (\+|-|×|÷) (\d+) = (\d+))");
    static const std::regex kFinal(R"((?:The answer is|Final answer:) (\d+))");
    int n_equations = 0;
    int64_t last_result = -1;
    std::string first_lhs, first_rhs;
    for (auto it = std::sregex_iterator(s.assistant.begin(), s.assistant.end(), kEquation);
         it != std::sregex_iterator(); ++it) {
        const int64_t lhs = std::stoll((*it)[1]), rhs = std::stoll((*it)[3]), result = std::stoll((*it)[4]);
        const std::string op = (*it)[2];
        int64_t expected = 0;
        if (op == "+") expected = lhs + rhs;
        if (op == "-") expected = lhs - rhs;
        if (op == "×") expected = lhs * rhs;
        if (op == "÷") {
            ASSERT_NE(0, rhs) << s.id;
            EXPECT_EQ(0, lhs % rhs) << s.id << ": inexact division " << it->str();
            expected = lhs / rhs;
        }
        EXPECT_EQ(expected, result) << s.id << ": " << it->str();
        EXPECT_GE(result, 0) << s.id;
        if (n_equations == 0) {
            first_lhs = (*it)[1];
            first_rhs = (*it)[3];
        }
        // The check line restates an earlier step backwards; the answer is the last *step*.
        if (it->position() < 7 || s.assistant.compare(it->position() - 7, 7, "Check: ") != 0) last_result = result;
        ++n_equations;
    }
    EXPECT_GE(n_equations, 2) << s.id << ":\n" << s.assistant;
    std::smatch final_match;
    ASSERT_TRUE(std::regex_search(s.assistant, final_match, kFinal)) << s.id << ":\n" << s.assistant;
    EXPECT_EQ(last_result, std::stoll(final_match[1])) << s.id << ":\n" << s.assistant;
    const std::regex first_lhs_word("\\b" + first_lhs + "\\b"), first_rhs_word("\\b" + first_rhs + "\\b");
    EXPECT_TRUE(std::regex_search(s.user, first_lhs_word)) << s.id << ": " << first_lhs << " not in question";
    EXPECT_TRUE(std::regex_search(s.user, first_rhs_word)) << s.id << ": " << first_rhs << " not in question";
}

TEST(DemoCorpus, MathAnswersAreCorrect) {
    int n_checked = 0;
    for (const DemoSample& s : demo_pool(11, 60)) {
        if (s.task != "math_word_problems") continue;
        check_math(s);
        ++n_checked;
    }
    for (const DemoSample& s : demo_targets("math_word_problems", 11, 60)) {
        check_math(s);
        ++n_checked;
    }
    EXPECT_EQ(120, n_checked);
}

TEST(DemoCorpus, CodeAnswersContainAPythonFunction) {
    for (const DemoSample& s : demo_targets("code_generation", 2, 20)) {
        EXPECT_NE(std::string::npos, s.assistant.find("```python\ndef ")) << s.id;
    }
    for (const DemoSample& s : demo_pool(2, 20)) {
        if (s.task != "code_generation") continue;
        EXPECT_NE(std::string::npos, s.assistant.find("```python\ndef ")) << s.id;
    }
}

TEST(DemoCorpus, TargetsAreOneFamilyAndNeverCopiesOfPoolTurns) {
    for (uint64_t pool_seed : {1ull, 2ull}) {
        const std::vector<DemoSample> pool = demo_pool(pool_seed, 200);
        std::set<std::string> pool_users;
        for (const DemoSample& s : pool) pool_users.insert(s.user);
        for (const std::string& family : demo_families()) {
            const std::vector<DemoSample> targets = demo_targets(family, 1, 40);
            ASSERT_EQ(40u, targets.size()) << family;
            std::set<std::string> ids;
            for (const DemoSample& t : targets) {
                EXPECT_EQ(family, t.task);
                ids.insert(t.id);
                EXPECT_EQ(0u, pool_users.count(t.user)) << t.id << " copies a pool user turn:\n" << t.user;
            }
            EXPECT_EQ(targets.size(), ids.size()) << family;
            EXPECT_EQ("target-" + family + "-000", targets[0].id);
        }
    }
}

TEST(DemoCorpus, SamplesHave30To200WordsAndVaryWithinAFamily) {
    std::map<std::string, std::pair<size_t, size_t>> range;  // family -> (min, max)
    auto note = [&range](const DemoSample& s) {
        const size_t n_words = count_words(s.user) + count_words(s.assistant);
        EXPECT_GE(n_words, 30u) << s.id;
        EXPECT_LE(n_words, 200u) << s.id;
        auto [it, inserted] = range.try_emplace(s.task, n_words, n_words);
        it->second.first = std::min(it->second.first, n_words);
        it->second.second = std::max(it->second.second, n_words);
    };
    for (const DemoSample& s : demo_pool(5, 100)) note(s);
    for (const auto& [family, min_max] : range) {
        EXPECT_GE(min_max.second, min_max.first + 20) << family << " lengths do not vary";
    }
    for (const std::string& family : demo_families())
        for (const DemoSample& s : demo_targets(family, 5, 30)) note(s);
    for (const std::string& text : demo_training_texts(5, 100)) {
        EXPECT_GE(count_words(text), 30u);
        EXPECT_LE(count_words(text), 200u);
    }
}

TEST(DemoCorpus, TrainingTextsAreVariedAndDifferFromPool) {
    const std::vector<std::string> texts = demo_training_texts(1, 400);
    ASSERT_EQ(400u, texts.size());
    const std::set<std::string> distinct(texts.begin(), texts.end());
    EXPECT_GT(distinct.size(), 380u);
    // Cover the families: look for a marker of each.
    int n_code = 0, n_math = 0, n_translate = 0;
    for (const std::string& text : texts) {
        n_code += text.find("```python") != std::string::npos;
        n_math += text.find(" = ") != std::string::npos;
        n_translate += text.find("ranslat") != std::string::npos || text.find("say this in") != std::string::npos;
    }
    EXPECT_GT(n_code, 10);
    EXPECT_GT(n_math, 10);
    EXPECT_GT(n_translate, 10);
    std::set<std::string> pool_texts;
    for (const DemoSample& s : demo_pool(1, 50)) pool_texts.insert(s.user + "\n\n" + s.assistant);
    int n_same = 0;
    for (const std::string& text : texts) n_same += static_cast<int>(pool_texts.count(text));
    EXPECT_LT(n_same, 10);
}

TEST(DemoCorpus, JsonlLinesParseAndRoundTrip) {
    std::vector<DemoSample> samples = demo_pool(4, 5);
    const std::vector<DemoSample> targets = demo_targets("translation", 4, 5);
    samples.insert(samples.end(), targets.begin(), targets.end());
    const std::string jsonl = to_jsonl(samples);
    ASSERT_FALSE(jsonl.empty());
    EXPECT_EQ('\n', jsonl.back());
    std::istringstream in(jsonl);
    std::string line;
    size_t line_idx = 0;
    while (std::getline(in, line)) {
        ASSERT_LT(line_idx, samples.size());
        const nlohmann::json j = nlohmann::json::parse(line);  // throws (and fails the test) on bad JSON
        const DemoSample& s = samples[line_idx];
        EXPECT_EQ(s.id, j.at("id").get<std::string>());
        EXPECT_EQ(s.task, j.at("task").get<std::string>());
        ASSERT_EQ(2u, j.at("messages").size());
        EXPECT_EQ("user", j["messages"][0].at("role").get<std::string>());
        EXPECT_EQ(s.user, j["messages"][0].at("content").get<std::string>());
        EXPECT_EQ("assistant", j["messages"][1].at("role").get<std::string>());
        EXPECT_EQ(s.assistant, j["messages"][1].at("content").get<std::string>());
        ++line_idx;
    }
    EXPECT_EQ(samples.size(), line_idx);
    EXPECT_EQ(0u, jsonl.find("{\"id\":\"pool-00000\",\"task\":"));
}

}  // namespace
}  // namespace mona
