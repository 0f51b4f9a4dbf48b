// demo/demo_corpus.cpp: the generator of the built-in demo corpus (demo/demo_corpus.hpp).
//
// Why this file is long (~1.4k lines): most of it is data, not logic: the hand-written templates, word lists,
// phrase tables and facts of eight task families, each with pool and target phrasings, kept next to the few
// lines that compose them so that a family can be read (and its output checked) in one place. Splitting it per
// family would scatter the shared drawing helpers without making any piece simpler. It is not part of the
// library: CMake builds it as mona_demo, linked by the CLI (`mona demo`, `builtin:` inputs) and the tests only.
#include "demo/demo_corpus.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>
#include <utility>

#include "mona/status.hpp"
#include "util/random.hpp"

namespace mona {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// Randomness

// One independent stream per (seed, purpose, family), so that asking for more targets never shifts the pool and
// the pool of one family does not depend on per_family of another.
constexpr uint64_t kPoolStream = 0x706f6f6cull;     // "pool"
constexpr uint64_t kTargetStream = 0x74617267ull;   // "targ"
constexpr uint64_t kTrainStream = 0x747261696eull;  // "train"
constexpr uint64_t kShuffleStream = 0x73687566ull;  // "shuf"

uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t family_idx) {
    return splitmix64_hash(splitmix64_hash(seed ^ splitmix64_hash(stream)) + family_idx);
}

class Draw {
   public:
    explicit Draw(uint64_t seed) : rng_(seed) {}

    // Uniform in [0, n), the same on every platform (util/random.hpp).
    uint64_t below(uint64_t n) { return uniform_below(rng_, n); }
    int64_t range(int64_t lo, int64_t hi) {  // inclusive
        MONA_ASSERT(lo <= hi,
                    "Draw::range: empty range; this is a bug in mona, please report it with the command line");
        return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
    }
    bool percent(int p) { return static_cast<int>(below(100)) < p; }

    template <class T, size_t N>
    const T& pick(const T (&items)[N]) {
        return items[below(N)];
    }
    // k distinct indices of [0, n), in increasing order (keeps poem lines and paragraph sentences in order).
    std::vector<size_t> sorted_subset(size_t n, size_t k) {
        std::vector<size_t> all = permutation(n);
        all.resize(k < n ? k : n);
        std::vector<bool> keep(n, false);
        for (size_t idx : all) keep[idx] = true;
        std::vector<size_t> out;
        for (size_t idx = 0; idx < n; ++idx)
            if (keep[idx]) out.push_back(idx);
        return out;
    }
    // A uniformly random permutation of [0, n) (Fisher-Yates with our own draws).
    std::vector<size_t> permutation(size_t n) {
        std::vector<size_t> perm(n);
        for (size_t idx = 0; idx < n; ++idx) perm[idx] = idx;
        shuffle_in_place(std::span<size_t>(perm), rng_);
        return perm;
    }

   private:
    std::mt19937_64 rng_;
};

// ---------------------------------------------------------------------------------------------------------------
// Text helpers

using Vars = std::vector<std::pair<std::string_view, std::string>>;

// Replaces {key} by its value; unknown keys are kept literally.
std::string fill(std::string_view tmpl, const Vars& vars) {
    std::string out;
    out.reserve(tmpl.size() + 64);
    size_t pos = 0;
    while (pos < tmpl.size()) {
        const size_t open = tmpl.find('{', pos);
        if (open == std::string_view::npos) break;
        const size_t close = tmpl.find('}', open + 1);
        if (close == std::string_view::npos) break;
        out.append(tmpl.substr(pos, open - pos));
        const std::string_view key = tmpl.substr(open + 1, close - open - 1);
        bool found = false;
        for (const auto& [name, value] : vars) {
            if (name == key) {
                out += value;
                found = true;
                break;
            }
        }
        if (!found) out.append(tmpl.substr(open, close - open + 1));
        pos = close + 1;
    }
    out.append(tmpl.substr(pos));
    return out;
}

std::string cap(std::string s) {
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s;
}

size_t word_count(std::string_view text) {
    size_t n_words = 0;
    bool in_word = false;
    for (char ch : text) {
        const bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
        if (!space && !in_word) ++n_words;
        in_word = !space;
    }
    return n_words;
}

enum class Variant { kPool, kTarget };

struct Turns {
    std::string user;
    std::string assistant;
};

struct Person {
    const char* name;
    const char* subj;  // he / she
    const char* poss;  // his / her
};

constexpr Person kPeople[] = {
    {"Maya", "she", "her"},  {"Liam", "he", "his"},  {"Priya", "she", "her"}, {"Omar", "he", "his"},
    {"Sofia", "she", "her"}, {"Kenji", "he", "his"}, {"Amara", "she", "her"}, {"Lucas", "he", "his"},
    {"Hana", "she", "her"},  {"Diego", "he", "his"}, {"Elena", "she", "her"}, {"Tomas", "he", "his"},
    {"Nadia", "she", "her"}, {"Felix", "he", "his"}, {"Zara", "she", "her"},  {"Mateo", "he", "his"},
    {"Ines", "she", "her"},  {"Arjun", "he", "his"}, {"Chloe", "she", "her"}, {"Malik", "he", "his"},
};

constexpr const char* kFullNames[] = {"Rosa Delgado",  "Martin Okafor", "Helen Park",   "Samuel Reyes",
                                      "Ingrid Larsen", "Tariq Haddad",  "Julia Moreau", "Daniel Osei"};
constexpr const char* kTowns[] = {"Millbrook",   "Eastwick",     "Harrow Bay", "Linden Falls",
                                  "Stonebridge", "Ashford Vale", "Redcliff",   "Willowmere"};
constexpr const char* kWeekdays[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"};
constexpr const char* kMonths[] = {"March", "April", "May", "June", "September", "October", "November"};

// ---------------------------------------------------------------------------------------------------------------
// math_word_problems

struct Step {
    std::string label;
    int64_t lhs;
    const char* op;  // "+", "-", "×", "÷"
    int64_t rhs;
    int64_t result;
};

struct MathProblem {
    std::string story;
    std::vector<Step> steps;
    std::string conclusion;  // a full sentence stating the answer in words
    std::string unit;
};

std::string num(int64_t v) { return fmt::format("{}", v); }

constexpr const char* kPackItems[] = {"stickers",  "pencils", "marbles",   "trading cards",
                                      "batteries", "candles", "postcards", "buttons"};
constexpr const char* kSchoolItems[] = {"pencils", "notebooks", "glue sticks", "markers", "rulers", "erasers"};
constexpr const char* kBakedItems[] = {"muffins", "croissants", "bread rolls", "cookies", "bagels"};
constexpr const char* kPurchases[] = {
    "a new bike helmet",   "a concert ticket", "a board game", "art supplies", "a birthday present for a friend",
    "a pair of headphones"};

MathProblem math_packs(Draw& d) {
    const Person& p = d.pick(kPeople);
    const std::string item = d.pick(kPackItems);
    const int64_t packs = d.range(2, 9), per = d.range(4, 15);
    const int64_t total = packs * per, given = d.range(1, total - 1);
    const Vars v = {{"name", p.name},      {"subj", p.subj},  {"item", item},
                    {"packs", num(packs)}, {"per", num(per)}, {"given", num(given)}};
    return {fill("{name} buys {packs} packs of {item}. Each pack holds {per} {item}. Later, {subj} gives {given} "
                 "{item} to a friend. How many {item} does {name} have left?",
                 v),
            {{cap(item) + " bought", packs, "×", per, total},
             {cap(item) + " left after giving some away", total, "-", given, total - given}},
            fill("{name} has ", v) + num(total - given) + " " + item + " left.",
            item};
}

MathProblem math_savings(Draw& d) {
    const Person& p = d.pick(kPeople);
    const int64_t weekly = d.range(5, 40), weeks = d.range(3, 12);
    const int64_t saved = weekly * weeks, spent = d.range(saved / 4, saved * 3 / 4);
    const Vars v = {{"name", p.name},  {"subj", p.subj},  {"a", num(weekly)},
                    {"b", num(weeks)}, {"c", num(spent)}, {"thing", d.pick(kPurchases)}};
    return {fill("{name} saves {a} dollars every week for {b} weeks. Then {subj} spends {c} dollars on {thing}. "
                 "How many dollars does {name} have left?",
                 v),
            {{"Money saved", weekly, "×", weeks, saved},
             {"Money left after the purchase", saved, "-", spent, saved - spent}},
            fill("{name} has ", v) + num(saved - spent) + " dollars left.",
            "dollars"};
}

MathProblem math_sharing(Draw& d) {
    const std::string item = d.pick(kSchoolItems);
    const int64_t groups = d.range(2, 8), each = d.range(3, 12), extra = d.range(1, 6);
    const int64_t total = groups * each;
    const Vars v = {{"item", item}, {"t", num(total)}, {"g", num(groups)}, {"e", num(extra)}};
    return {fill("A teacher has {t} {item} and shares them equally among {g} groups of students. Later, each "
                 "group receives {e} more {item} from the supply cupboard. How many {item} does each group have now?",
                 v),
            {{cap(item) + " per group at first", total, "÷", groups, each},
             {cap(item) + " per group after the extra ones", each, "+", extra, each + extra}},
            "Each group now has " + num(each + extra) + " " + item + ".",
            item};
}

MathProblem math_train(Draw& d) {
    const int64_t speed = 5 * d.range(8, 24), hours = d.range(2, 6), more = d.range(10, 150);
    const int64_t first = speed * hours;
    const Vars v = {{"a", num(speed)}, {"b", num(hours)}, {"c", num(more)}};
    return {
        fill("A train travels at {a} kilometres per hour for {b} hours. After a short stop at a station, it "
             "travels another {c} kilometres. How far does the train travel in total?",
             v),
        {{"Distance in the first part", speed, "×", hours, first}, {"Total distance", first, "+", more, first + more}},
        "The train travels " + num(first + more) + " kilometres in total.",
        "kilometres"};
}

MathProblem math_bakery(Draw& d) {
    const std::string item = d.pick(kBakedItems);
    const int64_t trays = d.range(2, 8), per = d.range(6, 12), more = d.range(5, 30);
    const int64_t morning = trays * per, total = morning + more;
    const int64_t sold = d.range(total / 3, total - 1);
    const Vars v = {{"item", item}, {"a", num(trays)}, {"b", num(per)}, {"c", num(more)}, {"s", num(sold)}};
    return {fill("A bakery bakes {a} trays of {item} in the morning, with {b} {item} on each tray. In the afternoon "
                 "it bakes {c} more. By closing time it has sold {s} {item}. How many {item} are left?",
                 v),
            {{cap(item) + " baked in the morning", trays, "×", per, morning},
             {cap(item) + " baked in the whole day", morning, "+", more, total},
             {cap(item) + " left at closing time", total, "-", sold, total - sold}},
            "The bakery has " + num(total - sold) + " " + item + " left.",
            item};
}

MathProblem math_pages(Draw& d) {
    const Person& p = d.pick(kPeople);
    const int64_t per_day = d.range(8, 30), days = d.range(3, 10);
    const int64_t read = per_day * days, pages = read + d.range(15, 200);
    const Vars v = {{"name", p.name}, {"n", num(pages)}, {"a", num(per_day)}, {"b", num(days)}};
    return {fill("A novel has {n} pages. {name} reads {a} pages every day for {b} days. How many pages are still "
                 "unread?",
                 v),
            {{"Pages read", per_day, "×", days, read}, {"Pages still unread", pages, "-", read, pages - read}},
            "There are " + num(pages - read) + " pages still unread.",
            "pages"};
}

MathProblem math_garden(Draw& d) {
    const int64_t rows = d.range(3, 12), per = d.range(5, 15);
    const int64_t total = rows * per, lost = d.range(1, total / 3);
    const Vars v = {{"a", num(rows)}, {"b", num(per)}, {"c", num(lost)}};
    return {fill("In a community garden there are {a} rows of tomato plants, with {b} plants in each row. After a "
                 "dry week, volunteers pull out {c} plants that did not survive. How many tomato plants are still "
                 "growing?",
                 v),
            {{"Plants at the start", rows, "×", per, total}, {"Plants still growing", total, "-", lost, total - lost}},
            num(total - lost) + " tomato plants are still growing.",
            "plants"};
}

MathProblem math_tickets(Draw& d) {
    const int64_t price = d.range(4, 15), fri = d.range(20, 90), sat = d.range(20, 90);
    const Vars v = {{"p", num(price)}, {"x", num(fri)}, {"y", num(sat)}};
    return {fill("Tickets for a school concert cost {p} dollars each. The school sold {x} tickets on Friday and {y} "
                 "tickets on Saturday. How much money did the ticket sales bring in?",
                 v),
            {{"Tickets sold over both days", fri, "+", sat, fri + sat},
             {"Money raised", fri + sat, "×", price, (fri + sat) * price}},
            "The ticket sales brought in " + num((fri + sat) * price) + " dollars.",
            "dollars"};
}

MathProblem math_tank(Draw& d) {
    const int64_t daily = d.range(20, 60), days = d.range(3, 9);
    const int64_t used = daily * days, tank = used + d.range(10, 150);
    const Vars v = {{"t", num(tank)}, {"a", num(daily)}, {"b", num(days)}};
    return {fill("A rain-water tank on a farm holds {t} litres. The farmer uses {a} litres a day to water the "
                 "animals. If it does not rain, how many litres are left in the tank after {b} days?",
                 v),
            {{"Water used", daily, "×", days, used}, {"Water left in the tank", tank, "-", used, tank - used}},
            num(tank - used) + " litres are left in the tank.",
            "litres"};
}

MathProblem math_books(Draw& d) {
    const int64_t rooms = d.range(2, 5), boxes = rooms * d.range(2, 6), per_box = d.range(6, 24);
    const int64_t books = boxes * per_box;
    const Vars v = {{"a", num(boxes)}, {"b", num(per_box)}, {"g", num(rooms)}};
    return {fill("A library receives {a} boxes with {b} books in each box. The librarian splits the books equally "
                 "between {g} classrooms. How many books does each classroom get?",
                 v),
            {{"Books received", boxes, "×", per_box, books}, {"Books per classroom", books, "÷", rooms, books / rooms}},
            "Each classroom gets " + num(books / rooms) + " books.",
            "books"};
}

MathProblem math_cycling(Draw& d) {
    const Person& p = d.pick(kPeople);
    const int64_t sat = d.range(12, 60), sun = d.range(12, 60), before = d.range(40, 300);
    const int64_t weekend = sat + sun, so_far = weekend + before, goal = so_far + d.range(5, 80);
    const Vars v = {{"name", p.name}, {"subj", p.subj},   {"x", num(sat)},
                    {"y", num(sun)},  {"z", num(before)}, {"goal", num(goal)}};
    return {fill("{name} wants to cycle {goal} kilometres this month. Before the weekend {subj} had already ridden "
                 "{z} kilometres, and over the weekend {subj} rides {x} kilometres on Saturday and {y} kilometres "
                 "on Sunday. How many more kilometres does {name} need to ride to reach the goal?",
                 v),
            {{"Weekend distance", sat, "+", sun, weekend},
             {"Distance so far this month", weekend, "+", before, so_far},
             {"Kilometres still to ride", goal, "-", so_far, goal - so_far}},
            fill("{name} needs to ride ", v) + num(goal - so_far) + " more kilometres.",
            "kilometres"};
}

// The inverse operation of the last step, as a check line; every printed equation is exact.
std::string check_line(const Step& s) {
    if (std::string_view(s.op) == "-") return fmt::format("{} + {} = {}", s.result, s.rhs, s.lhs);
    if (std::string_view(s.op) == "+") return fmt::format("{} - {} = {}", s.result, s.rhs, s.lhs);
    if (std::string_view(s.op) == "×") return fmt::format("{} ÷ {} = {}", s.result, s.rhs, s.lhs);
    return fmt::format("{} × {} = {}", s.result, s.rhs, s.lhs);
}

Turns make_math(Draw& d, Variant variant) {
    using MathFn = MathProblem (*)(Draw&);
    constexpr MathFn kPoolProblems[] = {math_packs, math_savings, math_sharing, math_train, math_bakery, math_pages};
    constexpr MathFn kTargetProblems[] = {math_garden, math_tickets, math_tank, math_books, math_cycling};
    Turns t;
    if (variant == Variant::kPool) {
        const MathProblem prob = d.pick(kPoolProblems)(d);
        constexpr const char* kPrefixes[] = {"Solve this problem:\n\n", "Math question: ", "",
                                             "Here is a word problem for you. "};
        constexpr const char* kSuffixes[] = {" Please show your working.",
                                             " I am stuck on this homework question and would like to see each step.",
                                             " Explain how you got the answer.", ""};
        const std::string prefix = d.pick(kPrefixes);
        const std::string suffix = d.pick(kSuffixes);
        t.user = prefix + prob.story + suffix;
        for (const Step& s : prob.steps)
            t.assistant += fmt::format("{}: {} {} {} = {}.\n", s.label, s.lhs, s.op, s.rhs, s.result);
        if (d.percent(40)) t.assistant += "Check: " + check_line(prob.steps.back()) + ", as expected.\n";
        if (d.percent(50)) t.assistant += "So " + prob.conclusion + "\n";
        t.assistant += fmt::format("The answer is {}.", prob.steps.back().result);
    } else {
        const MathProblem prob = d.pick(kTargetProblems)(d);
        constexpr const char* kLeads[] = {
            "Word problem (show each step):", "Here is a maths question from my daughter's worksheet.",
            "Can you solve this and explain the steps?"};
        constexpr const char* kTails[] = {"", "\n\nPlease give the final answer on its own line.",
                                          "\n\nA short explanation for each step would help."};
        const std::string lead = d.pick(kLeads);
        const std::string tail = d.pick(kTails);
        t.user = lead + "\n\n" + prob.story + tail;
        t.assistant = "Let's work through it step by step.\n\n";
        int step_no = 1;
        for (const Step& s : prob.steps)
            t.assistant +=
                fmt::format("Step {}: {}, {} {} {} = {}\n", step_no++, s.label, s.lhs, s.op, s.rhs, s.result);
        if (d.percent(50)) t.assistant += "\n" + prob.conclusion + "\n";
        t.assistant += fmt::format("\nFinal answer: {} {}", prob.steps.back().result, prob.unit);
    }
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// code_generation

struct CodeTask {
    const char* what;  // infinitive phrase: "reverse a string"
    const char* name;  // function name
    const char* code;  // the function, starting with "def", 4-space indents, ending in '\n'
    const char* explain;
    const char* example_call;
    const char* example_result;
};

constexpr CodeTask kCodeTasks[] = {
    {"reverse a string", "reverse_string", "def reverse_string(text):\n    return text[::-1]\n",
     "Slicing with a step of -1 walks the string from the last character to the first.", "reverse_string(\"hello\")",
     "'olleh'"},
    {"count the vowels in a string", "count_vowels",
     "def count_vowels(text):\n    return sum(1 for ch in text.lower() if ch in \"aeiou\")\n",
     "The generator yields 1 for every character that is a vowel, and sum adds them up. Lowercasing first means "
     "capital vowels are counted too.",
     "count_vowels(\"Banana\")", "3"},
    {"add up the even numbers in a list", "sum_even",
     "def sum_even(numbers):\n    return sum(n for n in numbers if n % 2 == 0)\n",
     "A number is even when dividing it by 2 leaves no remainder, so the filter keeps exactly those values.",
     "sum_even([1, 2, 3, 4, 6])", "12"},
    {"compute the factorial of a non-negative integer", "factorial",
     "def factorial(n):\n    result = 1\n    for k in range(2, n + 1):\n        result *= k\n    return result\n",
     "The loop multiplies the running product by every integer from 2 up to n. For n equal to 0 or 1 the loop does "
     "not run and the function returns 1, which is the correct value.",
     "factorial(5)", "120"},
    {"return the n-th Fibonacci number", "fibonacci",
     "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
     "The pair (a, b) always holds two consecutive Fibonacci numbers; each pass of the loop moves one step along the "
     "sequence. This iterative version avoids the exponential cost of the naive recursive one.",
     "fibonacci(10)", "55"},
    {"check whether a phrase is a palindrome", "is_palindrome",
     "def is_palindrome(text):\n    cleaned = \"\".join(ch.lower() for ch in text if ch.isalnum())\n    return "
     "cleaned == cleaned[::-1]\n",
     "It first keeps only letters and digits in lowercase, so spaces and punctuation do not matter, and then compares "
     "the cleaned text with its reverse.",
     "is_palindrome(\"Never odd or even\")", "True"},
    {"find the largest number in a list without using max()", "largest",
     "def largest(numbers):\n    best = numbers[0]\n    for n in numbers[1:]:\n        if n > best:\n            best "
     "= "
     "n\n    return best\n",
     "The function remembers the biggest value seen so far and replaces it whenever a larger one appears. It assumes "
     "the list is not empty.",
     "largest([3, 9, 2, 7])", "9"},
    {"convert a temperature from Celsius to Fahrenheit", "celsius_to_fahrenheit",
     "def celsius_to_fahrenheit(celsius):\n    return celsius * 9 / 5 + 32\n",
     "This is the standard conversion formula: multiply by 9/5 and then add 32.", "celsius_to_fahrenheit(25)", "77.0"},
    {"count the words in a sentence", "count_words", "def count_words(sentence):\n    return len(sentence.split())\n",
     "Calling split() with no arguments splits on any run of whitespace, so repeated spaces do not create empty "
     "words.",
     "count_words(\"the quick brown fox\")", "4"},
    {"remove duplicates from a list while keeping the original order", "unique_in_order",
     "def unique_in_order(items):\n    seen = set()\n    result = []\n    for item in items:\n        if item not in "
     "seen:\n            seen.add(item)\n            result.append(item)\n    return result\n",
     "The set gives fast membership checks, while the result list preserves the order in which items first appear.",
     "unique_in_order([3, 1, 3, 2, 1])", "[3, 1, 2]"},
    {"check whether a number is prime", "is_prime",
     "def is_prime(n):\n    if n < 2:\n        return False\n    k = 2\n    while k * k <= n:\n        if n % k == "
     "0:\n            return False\n        k += 1\n    return True\n",
     "It is enough to test divisors up to the square root of n, because any larger factor would pair with a smaller "
     "one that was already tested.",
     "is_prime(29)", "True"},
    {"flatten a list of lists into a single list", "flatten",
     "def flatten(nested):\n    return [item for sublist in nested for item in sublist]\n",
     "The nested list comprehension reads left to right: for each sublist, take each item in it.",
     "flatten([[1, 2], [3], [4, 5]])", "[1, 2, 3, 4, 5]"},
    {"compute the greatest common divisor of two integers", "gcd",
     "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n",
     "This is Euclid's algorithm: the greatest common divisor of a and b equals that of b and a % b, and the loop "
     "stops when the remainder reaches zero.",
     "gcd(48, 18)", "6"},
    {"count how often each character appears in a string", "char_counts",
     "def char_counts(text):\n    counts = {}\n    for ch in text:\n        counts[ch] = counts.get(ch, 0) + 1\n    "
     "return counts\n",
     "dict.get returns 0 for characters that have not been seen yet, so each character's count starts at zero.",
     "char_counts(\"abca\")", "{'a': 2, 'b': 1, 'c': 1}"},
    {"merge two sorted lists into one sorted list", "merge_sorted",
     "def merge_sorted(left, right):\n    result = []\n    i, j = 0, 0\n    while i < len(left) and j < len(right):\n"
     "        if left[i] <= right[j]:\n            result.append(left[i])\n            i += 1\n        else:\n     "
     "       result.append(right[j])\n            j += 1\n    result.extend(left[i:])\n    result.extend(right[j:])\n"
     "    return result\n",
     "Two indices walk through the lists and always take the smaller front element. When one list runs out, the rest "
     "of the other is already sorted and can be appended as it is.",
     "merge_sorted([1, 4, 9], [2, 3, 10])", "[1, 2, 3, 4, 9, 10]"},
    {"capitalize the first letter of every word in a sentence", "capitalize_words",
     "def capitalize_words(sentence):\n    return \" \".join(word.capitalize() for word in sentence.split())\n",
     "Each word is capitalized on its own and the words are joined back together with single spaces.",
     "capitalize_words(\"hello big world\")", "'Hello Big World'"},
    {"find the second largest distinct value in a list", "second_largest",
     "def second_largest(numbers):\n    distinct = sorted(set(numbers), reverse=True)\n    return distinct[1] if "
     "len(distinct) > 1 else None\n",
     "Converting to a set removes repeated values, so a duplicated maximum is not mistaken for the second largest. "
     "If there is only one distinct value, the function returns None.",
     "second_largest([4, 8, 8, 5])", "5"},
    {"compute the average of a list of numbers", "average",
     "def average(numbers):\n    if not numbers:\n        return 0.0\n    return sum(numbers) / len(numbers)\n",
     "The guard for an empty list avoids a division by zero.", "average([2, 4, 9])", "5.0"},
    {"check whether two words are anagrams of each other", "are_anagrams",
     "def are_anagrams(first, second):\n    return sorted(first.replace(\" \", \"\").lower()) == "
     "sorted(second.replace(\" \", \"\").lower())\n",
     "Two words are anagrams when they contain the same letters the same number of times, which is exactly when "
     "their sorted letters are equal.",
     "are_anagrams(\"listen\", \"silent\")", "True"},
};

// Inserts a one-line docstring after the def line.
std::string with_docstring(const CodeTask& task) {
    const std::string code = task.code;
    const size_t eol = code.find('\n');
    return code.substr(0, eol + 1) + "    \"\"\"" + cap(task.what) + ".\"\"\"\n" + code.substr(eol + 1);
}

Turns make_code(Draw& d, Variant variant) {
    const CodeTask& task = d.pick(kCodeTasks);
    const Vars v = {{"what", task.what}, {"name", task.name}};
    const bool docstring = d.percent(40);
    Turns t;
    if (variant == Variant::kPool) {
        constexpr const char* kAsks[] = {"Write a Python function to {what}.",
                                         "Can you show me how to {what} in Python? Please wrap it in a function.",
                                         "Implement a Python function that can {what}.",
                                         "I need a small Python helper to {what}."};
        constexpr const char* kExtras[] = {
            "", " Keep it simple and readable.", " I am new to Python, so please explain the code.",
            " Please avoid external libraries.", " It is for a coding interview, so explain your reasoning."};
        const std::string ask = fill(d.pick(kAsks), v);
        t.user = ask + d.pick(kExtras);
        constexpr const char* kIntros[] = {
            "Here is a simple solution:", "Sure. Here is one way to do it:", "You can write it like this:"};
        t.assistant = std::string(d.pick(kIntros)) + "\n\n```python\n" +
                      (docstring ? with_docstring(task) : task.code) + "```\n\n" + task.explain;
        if (d.percent(60))
            t.assistant += fmt::format(" For example, `{}` returns `{}`.", task.example_call, task.example_result);
    } else {
        constexpr const char* kAsks[] = {
            "Using Python, create a function named `{name}` that will {what}. Include a short usage example.",
            "Task: {what} (Python 3). Give me the function first and then explain how it works.",
            "Please code this in Python for me: a function that will {what}. Add a docstring and a quick test."};
        const size_t ask_idx = d.below(3);
        t.user = fill(kAsks[ask_idx], v);
        const bool add_doc = ask_idx == 2 || docstring;
        t.assistant = "```python\n" + (add_doc ? with_docstring(task) : std::string(task.code)) + "\n" +
                      fmt::format("print({})  # {}\n", task.example_call, task.example_result) +
                      "```\n\nHow it works: " + task.explain;
        if (d.percent(50)) t.assistant += " The function has no side effects, so it is easy to test.";
    }
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// translation

struct Phrase {
    const char* en;
    const char* fr;
    const char* es;
    const char* de;
};

constexpr Phrase kPhrases[] = {
    {"The cat is sleeping on the chair.", "Le chat dort sur la chaise.", "El gato duerme en la silla.",
     "Die Katze schläft auf dem Stuhl."},
    {"I would like a cup of coffee, please.", "Je voudrais une tasse de café, s'il vous plaît.",
     "Quisiera una taza de café, por favor.", "Ich hätte gern eine Tasse Kaffee, bitte."},
    {"Where is the train station?", "Où est la gare ?", "¿Dónde está la estación de tren?", "Wo ist der Bahnhof?"},
    {"The weather is nice today.", "Il fait beau aujourd'hui.", "Hoy hace buen tiempo.", "Das Wetter ist heute schön."},
    {"My brother works in a hospital.", "Mon frère travaille dans un hôpital.", "Mi hermano trabaja en un hospital.",
     "Mein Bruder arbeitet in einem Krankenhaus."},
    {"We are going to the beach tomorrow.", "Nous allons à la plage demain.", "Mañana vamos a la playa.",
     "Wir fahren morgen an den Strand."},
    {"The book is on the table.", "Le livre est sur la table.", "El libro está sobre la mesa.",
     "Das Buch liegt auf dem Tisch."},
    {"She drinks tea every morning.", "Elle boit du thé tous les matins.", "Ella bebe té todas las mañanas.",
     "Sie trinkt jeden Morgen Tee."},
    {"How much does this shirt cost?", "Combien coûte cette chemise ?", "¿Cuánto cuesta esta camisa?",
     "Wie viel kostet dieses Hemd?"},
    {"The children are playing in the garden.", "Les enfants jouent dans le jardin.", "Los niños juegan en el jardín.",
     "Die Kinder spielen im Garten."},
    {"I do not understand the question.", "Je ne comprends pas la question.", "No entiendo la pregunta.",
     "Ich verstehe die Frage nicht."},
    {"The museum opens at nine o'clock.", "Le musée ouvre à neuf heures.", "El museo abre a las nueve.",
     "Das Museum öffnet um neun Uhr."},
    {"My sister has two dogs.", "Ma sœur a deux chiens.", "Mi hermana tiene dos perros.",
     "Meine Schwester hat zwei Hunde."},
    {"The water is cold.", "L'eau est froide.", "El agua está fría.", "Das Wasser ist kalt."},
    {"Can you help me, please?", "Pouvez-vous m'aider, s'il vous plaît ?", "¿Puede ayudarme, por favor?",
     "Können Sie mir bitte helfen?"},
    {"I am learning to cook.", "J'apprends à cuisiner.", "Estoy aprendiendo a cocinar.", "Ich lerne kochen."},
    {"The shop is closed on Sundays.", "Le magasin est fermé le dimanche.", "La tienda está cerrada los domingos.",
     "Der Laden ist sonntags geschlossen."},
    {"He reads the newspaper in the morning.", "Il lit le journal le matin.", "Él lee el periódico por la mañana.",
     "Er liest morgens die Zeitung."},
    {"The red car is very fast.", "La voiture rouge est très rapide.", "El coche rojo es muy rápido.",
     "Das rote Auto ist sehr schnell."},
    {"Thank you for your help.", "Merci pour votre aide.", "Gracias por su ayuda.", "Danke für Ihre Hilfe."},
    {"The bus arrives in ten minutes.", "Le bus arrive dans dix minutes.", "El autobús llega en diez minutos.",
     "Der Bus kommt in zehn Minuten."},
    {"I live in a small apartment.", "J'habite dans un petit appartement.", "Vivo en un apartamento pequeño.",
     "Ich wohne in einer kleinen Wohnung."},
    {"The flowers in the park are beautiful.", "Les fleurs du parc sont belles.", "Las flores del parque son bonitas.",
     "Die Blumen im Park sind schön."},
    {"We eat dinner at seven.", "Nous dînons à sept heures.", "Cenamos a las siete.",
     "Wir essen um sieben Uhr zu Abend."},
};

struct Language {
    const char* name;
    const char* Phrase::*field;
    const char* note;
};

constexpr Language kLanguages[] = {
    {"French", &Phrase::fr,
     "In French, nouns have grammatical gender, so articles such as \"le\" and \"la\" change with the noun."},
    {"Spanish", &Phrase::es, "Spanish questions open with an inverted question mark (¿) as well as ending with one."},
    {"German", &Phrase::de, "In German, every noun is written with a capital letter."},
};

Turns make_translation(Draw& d, Variant variant) {
    const Language& lang = d.pick(kLanguages);
    const std::vector<size_t> picked = d.permutation(std::size(kPhrases));
    const size_t n_sentences = static_cast<size_t>(d.range(2, 7));
    std::string src, dst;
    for (size_t idx = 0; idx < n_sentences; ++idx) {
        const Phrase& ph = kPhrases[picked[idx]];
        if (idx) {
            src += ' ';
            dst += ' ';
        }
        src += ph.en;
        dst += ph.*lang.field;
    }
    const Vars v = {{"lang", lang.name}, {"src", src}, {"dst", dst}};
    Turns t;
    if (variant == Variant::kPool) {
        constexpr const char* kAsks[] = {"Translate the following text into {lang}:\n\n{src}",
                                         "Please translate this English passage to {lang}.\n\n{src}",
                                         "Translate to {lang}: {src}"};
        constexpr const char* kAnswers[] = {"{dst}", "Here is the {lang} translation:\n\n{dst}",
                                            "{lang} translation:\n{dst}"};
        t.user = fill(d.pick(kAsks), v);
        t.assistant = fill(d.pick(kAnswers), v);
    } else {
        constexpr const char* kAsks[] = {"How would I say this in {lang}?\n\n\"{src}\"",
                                         "English → {lang}. Translate, keeping the meaning and tone:\n{src}",
                                         "I'm practising {lang}. What is the correct translation of: {src}"};
        constexpr const char* kAnswers[] = {"In {lang}: \"{dst}\"", "{dst}", "The {lang} version is:\n\n{dst}"};
        t.user = fill(d.pick(kAsks), v);
        t.assistant = fill(d.pick(kAnswers), v);
    }
    if (d.percent(35)) t.assistant += std::string("\n\nNote: ") + lang.note;
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// sentiment_classification

struct Aspect {
    const char* sentence;
    const char* tag;
};

constexpr Aspect kProductGood[] = {
    {"It arrived a day earlier than promised and was packed well.", "fast delivery"},
    {"The build quality feels solid and nothing rattles.", "solid build quality"},
    {"Setup took less than five minutes.", "easy setup"},
    {"It does exactly what the description says.", "accurate description"},
    {"I have used it every day for a month and it still works like new.", "durability"},
    {"For the price, I honestly expected much less.", "good value"},
    {"The instructions were clear and easy to follow.", "clear instructions"},
    {"Customer support answered my question within an hour.", "helpful support"},
    {"It looks even better in person than in the photos.", "good looks"},
};
constexpr Aspect kProductBad[] = {
    {"It stopped working after only two weeks.", "it broke quickly"},
    {"The plastic feels cheap and one part cracked on the first day.", "cheap materials"},
    {"The instructions were missing half of the steps.", "poor instructions"},
    {"It is much louder than the listing suggested.", "noise"},
    {"Customer support never replied to my emails.", "unresponsive support"},
    {"The colour is nothing like the pictures.", "misleading photos"},
    {"It arrived late and the box was damaged.", "late, damaged delivery"},
    {"Getting a refund took three weeks of phone calls.", "a slow refund"},
    {"The battery barely lasts an afternoon.", "short battery life"},
};
constexpr Aspect kFilmGood[] = {
    {"The acting is superb, especially from the lead.", "strong acting"},
    {"The story kept me guessing until the final scene.", "a gripping story"},
    {"The soundtrack is beautiful and never overpowers the scenes.", "the soundtrack"},
    {"Every shot looks like a painting.", "the cinematography"},
    {"It is funny without ever trying too hard.", "natural humour"},
    {"The characters feel like real people.", "believable characters"},
    {"Two hours flew by.", "good pacing"},
};
constexpr Aspect kFilmBad[] = {
    {"The plot makes very little sense.", "a confusing plot"},
    {"At nearly three hours, it drags badly in the middle.", "slow pacing"},
    {"The dialogue feels wooden and forced.", "wooden dialogue"},
    {"The ending is rushed and unsatisfying.", "a rushed ending"},
    {"Even the special effects look cheap.", "cheap effects"},
    {"I could not care about any of the characters.", "flat characters"},
    {"The jokes fall flat one after another.", "humour that misses"},
};

constexpr const char* kProducts[] = {
    "blender",    "pair of headphones", "backpack", "desk lamp", "coffee maker", "pair of running shoes",
    "phone case", "vacuum cleaner",     "tent",     "keyboard"};
constexpr const char* kFilms[] = {"thriller",    "romantic comedy", "science fiction film",
                                  "documentary", "animated film",   "historical drama"};

std::string join_tags(const std::vector<std::string>& tags) {
    if (tags.size() == 1) return tags[0];
    std::string out;
    for (size_t idx = 0; idx < tags.size(); ++idx) {
        if (idx) out += idx + 1 == tags.size() ? " and " : ", ";
        out += tags[idx];
    }
    return out;
}

Turns make_sentiment(Draw& d, Variant variant) {
    const bool positive = d.percent(50);
    const bool film = d.percent(40);
    const std::string thing = film ? d.pick(kFilms) : d.pick(kProducts);
    std::vector<Aspect> aspects;
    {
        const Aspect* list = nullptr;
        size_t n_list = 0;
        if (film) {
            list = positive ? kFilmGood : kFilmBad;
            n_list = positive ? std::size(kFilmGood) : std::size(kFilmBad);
        } else {
            list = positive ? kProductGood : kProductBad;
            n_list = positive ? std::size(kProductGood) : std::size(kProductBad);
        }
        const std::vector<size_t> perm = d.permutation(n_list);
        const size_t n_aspects = static_cast<size_t>(d.range(2, 5));
        for (size_t idx = 0; idx < n_aspects; ++idx) aspects.push_back(list[perm[idx]]);
    }
    const Vars v = {{"thing", thing}, {"person", d.pick(kPeople).name}};
    std::string review;
    if (film) {
        constexpr const char* kGoodOpen[] = {"I watched this {thing} last weekend and loved it.",
                                             "What a pleasant surprise this {thing} was."};
        constexpr const char* kBadOpen[] = {"I had high hopes for this {thing}, but it let me down.",
                                            "I watched this {thing} with {person} and we both regretted it."};
        review = fill(positive ? d.pick(kGoodOpen) : d.pick(kBadOpen), v);
    } else {
        constexpr const char* kGoodOpen[] = {
            "I bought this {thing} as a gift for {person} and ended up ordering one "
            "for myself.",
            "Five stars for this {thing}."};
        constexpr const char* kBadOpen[] = {"I really wanted to like this {thing}.",
                                            "I bought this {thing} for {person} and regret it."};
        review = fill(positive ? d.pick(kGoodOpen) : d.pick(kBadOpen), v);
    }
    std::vector<std::string> tags;
    for (const Aspect& a : aspects) {
        review += std::string(" ") + a.sentence;
        tags.push_back(a.tag);
    }
    constexpr const char* kGoodClose[] = {" I would happily buy it again.", " Highly recommended.", ""};
    constexpr const char* kBadClose[] = {" I would not recommend it.", " Save your money.", ""};
    review += positive ? d.pick(kGoodClose) : d.pick(kBadClose);
    const std::string label = positive ? "positive" : "negative";
    const std::string reasons = join_tags(tags);
    Turns t;
    if (variant == Variant::kPool) {
        constexpr const char* kAsks[] = {
            "Classify the sentiment of this review as positive or negative.\n\nReview: {review}",
            "What is the sentiment of the following customer review? Answer positive or negative.\n\n{review}",
            "Sentiment analysis: label the review below as positive or negative and give a reason.\n\n\"{review}\""};
        t.user = fill(d.pick(kAsks), {{"review", review}});
        t.assistant =
            "Sentiment: " + label + "\n\nThe reviewer " + (positive ? "praises " : "complains about ") + reasons + ".";
    } else {
        constexpr const char* kAsks[] = {
            "Is the following {kind} review positive or negative? One word, then a short justification.\n\n{review}",
            "Here's a review I found online:\n\n{review}\n\nWould you say the author liked the {kind} or not?"};
        t.user = fill(d.pick(kAsks), {{"review", review}, {"kind", film ? "film" : "product"}});
        t.assistant = cap(label) + ". " +
                      (positive ? "The author liked it and mentions "
                                : "The author is unhappy, "
                                  "citing ") +
                      reasons + ".";
    }
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// summarization

struct Paragraph {
    std::vector<std::string> core_head;  // always present, first
    std::vector<std::string> optional;   // a subset is kept, in order
    std::vector<std::string> core_tail;  // always present, last
    std::string summary;
};

constexpr const char* kFacilities[] = {"public library", "swimming pool", "community garden",
                                       "skate park",     "health clinic", "sports hall"};
constexpr const char* kPlaces[] = {"river", "old train station", "main square", "high school", "market hall"};

Paragraph topic_town(Draw& d) {
    const Vars v = {{"town", d.pick(kTowns)},        {"facility", d.pick(kFacilities)},
                    {"place", d.pick(kPlaces)},      {"cost", num(10 * d.range(20, 90))},
                    {"months", num(d.range(6, 24))}, {"person", d.pick(kFullNames)},
                    {"month", d.pick(kMonths)}};
    Paragraph p;
    p.core_head = {fill("The town of {town} has finished building a new {facility} near the {place}.", v),
                   fill("The project cost about {cost} thousand dollars and took {months} months to complete.", v)};
    p.optional = {fill("Residents had asked for the {facility} for years, according to the mayor, {person}.", v),
                  "Part of the money came from a state grant, and the rest was raised by local businesses.",
                  "During construction a nearby road was closed several times, which frustrated some drivers.",
                  "The design includes solar panels on the roof and a covered area for bicycles.",
                  fill("{person} said the town hopes the {facility} will bring neighbours together.", v)};
    p.core_tail = {fill("It is expected to open to the public in {month}.", v)};
    p.summary = fill(
        "{town} has built a new {facility} near the {place} for about {cost} thousand dollars, and it "
        "should open to the public in {month}.",
        v);
    return p;
}

struct Study {
    const char* subjects;
    const char* did;
    const char* found;
};
constexpr Study kStudies[] = {
    {"adults", "walked for twenty minutes every evening", "fell asleep faster on average than those who did not"},
    {"secondary school students", "read for pleasure for half an hour a day",
     "scored slightly higher on vocabulary tests"},
    {"office workers", "took a short break away from their screens every hour",
     "reported fewer headaches and less eye strain"},
    {"older adults", "learned to play a musical instrument", "did better on memory tasks at the end of the study"},
    {"families", "ate dinner together at least five times a week", "reported lower levels of stress"},
};
constexpr const char* kInstitutes[] = {"Northfield University", "the University of Westmere", "the Carlton Institute",
                                       "Lakeside College"};

Paragraph topic_study(Draw& d) {
    const Study& s = d.pick(kStudies);
    const Vars v = {{"inst", d.pick(kInstitutes)},
                    {"n", num(10 * d.range(8, 90))},
                    {"months", num(d.range(3, 18))},
                    {"subjects", s.subjects},
                    {"did", s.did},
                    {"found", s.found},
                    {"person", d.pick(kFullNames)}};
    Paragraph p;
    p.core_head = {fill("Researchers at {inst} followed {n} {subjects} for {months} months.", v)};
    p.optional = {"They wanted to know whether a small daily habit makes a measurable difference to well-being.",
                  "Participants kept a short diary and answered a questionnaire every two weeks.",
                  "The researchers compared them with a group who kept to their usual routines."};
    p.core_tail = {fill("Participants who {did} {found}.", v)};
    const std::vector<std::string> after = {
        fill("The team leader, {person}, said the effect was modest but consistent.", v),
        "The researchers cautioned that the study was not designed to prove cause and effect.",
        "They now plan a larger study across several cities."};
    // These come after the finding; kept as optional tail sentences in order.
    for (const std::string& s2 : after)
        if (d.percent(50)) p.core_tail.push_back(s2);
    p.summary = fill("A {months}-month study of {n} {subjects} at {inst} found that those who {did} {found}.", v);
    return p;
}

struct Company {
    const char* name;
    const char* products;
};
constexpr Company kCompanies[] = {{"Brightline Foods", "frozen meals"},
                                  {"Kestrel Robotics", "warehouse robots"},
                                  {"Harbour and Pine", "wooden furniture"},
                                  {"Solace Audio", "headphones"},
                                  {"Greenfield Cycles", "electric bicycles"}};
constexpr const char* kWhen[] = {"next spring", "within two years", "early next year", "by the end of next year"};

Paragraph topic_company(Draw& d) {
    const Company& c = d.pick(kCompanies);
    const Vars v = {{"company", c.name},
                    {"products", c.products},
                    {"town", d.pick(kTowns)},
                    {"day", d.pick(kWeekdays)},
                    {"jobs", num(10 * d.range(12, 90))},
                    {"person", d.pick(kFullNames)},
                    {"when", d.pick(kWhen)}};
    Paragraph p;
    p.core_head = {fill("{company}, a maker of {products}, announced on {day} that it will open a new factory in "
                        "{town}.",
                        v),
                   fill("The factory is expected to create about {jobs} jobs.", v)};
    p.optional = {"Local officials welcomed the news, saying the area had lost many jobs over the past decade.",
                  fill("The company chose {town} partly because of its rail connections and its technical college.", v),
                  "Construction will begin next month, subject to final planning approval.",
                  "Some residents have raised concerns about extra lorry traffic on narrow roads.",
                  fill("The company's chief executive, {person}, said the new site would double its production.", v)};
    p.core_tail = {fill("Production is due to start {when}.", v)};
    p.summary = fill(
        "{company} plans to open a factory in {town} that will create about {jobs} jobs, with "
        "production due to start {when}.",
        v);
    return p;
}

Paragraph topic_storm(Draw& d) {
    const Vars v = {{"town", d.pick(kTowns)},
                    {"day", d.pick(kWeekdays)},
                    {"mm", num(d.range(60, 180))},
                    {"homes", num(10 * d.range(15, 300))}};
    Paragraph p;
    p.core_head = {fill("A storm brought {mm} millimetres of rain to {town} on {day}, flooding several streets near "
                        "the river.",
                        v),
                   fill("About {homes} homes lost power for several hours, but no one was seriously hurt.", v)};
    p.optional = {"Firefighters spent the night pumping water out of the basement of the primary school.",
                  "The council opened the sports hall as a shelter for families who had to leave their homes.",
                  "Forecasters said it was the wettest day in the area for more than twenty years.",
                  "Power was restored to most homes by the next morning.",
                  "Residents have been asked to report any damage to the council's helpline."};
    p.core_tail = {"The council says it will review its flood defences before next winter."};
    p.summary = fill(
        "A storm flooded streets in {town} on {day} and cut power to about {homes} homes, but no one was "
        "seriously hurt.",
        v);
    return p;
}

Turns make_summary(Draw& d, Variant variant) {
    using TopicFn = Paragraph (*)(Draw&);
    constexpr TopicFn kTopics[] = {topic_town, topic_study, topic_company, topic_storm};
    const Paragraph p = d.pick(kTopics)(d);
    std::string text;
    auto add = [&text](const std::string& s) {
        if (!text.empty()) text += ' ';
        text += s;
    };
    for (const std::string& s : p.core_head) add(s);
    for (size_t idx : d.sorted_subset(p.optional.size(), static_cast<size_t>(d.range(0, 4)))) add(p.optional[idx]);
    for (const std::string& s : p.core_tail) add(s);
    Turns t;
    if (variant == Variant::kPool) {
        constexpr const char* kAsks[] = {"Summarize the following paragraph in one sentence.\n\n{p}",
                                         "Write a one-sentence summary of this text:\n\n{p}",
                                         "TL;DR this for me in a single sentence:\n\n{p}"};
        t.user = fill(d.pick(kAsks), {{"p", text}});
        t.assistant = (d.percent(40) ? "Summary: " : "") + p.summary;
    } else {
        constexpr const char* kAsks[] = {"Read the passage below and sum it up in a single sentence.\n\nPassage: {p}",
                                         "Condense this news item into one sentence for our newsletter.\n\n\"{p}\"",
                                         "{p}\n\nGive me the gist of the text above in one sentence."};
        t.user = fill(d.pick(kAsks), {{"p", text}});
        t.assistant = (d.percent(50) ? "In one sentence: " : "") + p.summary;
    }
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// trivia_qa

struct Fact {
    const char* question;
    const char* answer;
    const char* detail;
};

constexpr Fact kScienceFacts[] = {
    {"What is the chemical symbol for gold?", "The chemical symbol for gold is Au.",
     "It comes from the Latin word aurum."},
    {"What is the chemical symbol for iron?", "The chemical symbol for iron is Fe.",
     "It comes from the Latin word ferrum."},
    {"What is the chemical symbol for sodium?", "The chemical symbol for sodium is Na.",
     "It comes from the Latin name natrium."},
    {"What is the chemical symbol for silver?", "The chemical symbol for silver is Ag.",
     "It comes from the Latin word argentum."},
    {"What is the chemical symbol for lead?", "The chemical symbol for lead is Pb.",
     "It comes from the Latin word plumbum, which is also the root of the word plumbing."},
    {"Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun.",
     "It completes one orbit in about 88 Earth days."},
    {"Which is the largest planet in the solar system?", "Jupiter is the largest planet in the solar system.",
     "It is a gas giant made mostly of hydrogen and helium."},
    {"Which planet is known as the Red Planet?", "Mars is known as the Red Planet.",
     "Its reddish colour comes from iron oxide in the dust on its surface."},
    {"Which planet is famous for its bright rings?", "Saturn is the planet famous for its bright rings.",
     "The rings are made mostly of pieces of ice and rock."},
    {"At what temperature does water boil at sea level?",
     "At sea level, water boils at 100 degrees Celsius, which is 212 degrees Fahrenheit.",
     "At high altitude the air pressure is lower, so water boils at a lower temperature."},
    {"What gas do plants take in from the air for photosynthesis?", "Plants take in carbon dioxide for photosynthesis.",
     "Using energy from sunlight, they turn it and water into sugars and release oxygen."},
    {"How many chambers does the human heart have?", "The human heart has four chambers.",
     "There are two upper chambers, the atria, and two lower chambers, the ventricles."},
    {"How many bones are in the adult human skeleton?", "An adult human skeleton usually has 206 bones.",
     "Babies are born with more, but some of them fuse together as the body grows."},
    {"What is the largest ocean on Earth?", "The Pacific Ocean is the largest ocean on Earth.",
     "It covers more area than all of the land on Earth put together."},
    {"What is the highest mountain above sea level?", "Mount Everest is the highest mountain above sea level.",
     "Its summit, about 8,849 metres high, lies on the border between Nepal and China."},
    {"What is the hardest natural mineral?", "Diamond is the hardest natural mineral.",
     "It is rated 10 on the Mohs scale of mineral hardness."},
    {"What is the freezing point of water in degrees Fahrenheit?", "Water freezes at 32 degrees Fahrenheit.",
     "That is the same temperature as 0 degrees Celsius."},
    {"What is the most common gas in Earth's atmosphere?", "Nitrogen is the most common gas in Earth's atmosphere.",
     "It makes up about 78 percent of the air we breathe."},
    {"What is the chemical formula for water?", "The chemical formula for water is H2O.",
     "Each molecule has two hydrogen atoms bonded to one oxygen atom."},
    {"Which organ in the human body produces insulin?", "Insulin is produced by the pancreas.",
     "The hormone helps the body's cells take up glucose from the blood."},
    {"Roughly how fast does light travel in a vacuum?",
     "Light travels at about 300,000 kilometres per second in a vacuum.",
     "The exact value is defined as 299,792,458 metres per second."},
    {"Who wrote the play Romeo and Juliet?", "Romeo and Juliet was written by William Shakespeare.",
     "It is one of his early tragedies, written in the 1590s."},
    {"What is the smallest prime number?", "The smallest prime number is 2.", "It is also the only even prime number."},
    {"How many sides does a hexagon have?", "A hexagon has six sides.",
     "The cells of a honeycomb are a well-known example of hexagons in nature."},
    {"How long does it take Earth to orbit the Sun?", "Earth takes about 365.25 days to orbit the Sun.",
     "The extra quarter of a day is why a leap day is added to the calendar almost every four years."},
    {"What is the largest hot desert in the world?", "The Sahara is the largest hot desert in the world.",
     "It stretches across much of North Africa."},
    {"How many degrees are in a right angle?", "A right angle measures 90 degrees.",
     "Two right angles side by side make a straight angle of 180 degrees."},
};

struct Capital {
    const char* country;
    const char* city;
    const char* continent;
};

constexpr Capital kCapitals[] = {
    {"Canada", "Ottawa", "North America"},
    {"Australia", "Canberra", "Oceania"},
    {"Kenya", "Nairobi", "Africa"},
    {"Brazil", "Brasília", "South America"},
    {"Egypt", "Cairo", "Africa"},
    {"Japan", "Tokyo", "Asia"},
    {"Norway", "Oslo", "Europe"},
    {"Peru", "Lima", "South America"},
    {"Argentina", "Buenos Aires", "South America"},
    {"India", "New Delhi", "Asia"},
    {"South Korea", "Seoul", "Asia"},
    {"Portugal", "Lisbon", "Europe"},
    {"Mexico", "Mexico City", "North America"},
    {"Greece", "Athens", "Europe"},
    {"Sweden", "Stockholm", "Europe"},
    {"Poland", "Warsaw", "Europe"},
    {"Ireland", "Dublin", "Europe"},
    {"Thailand", "Bangkok", "Asia"},
    {"Vietnam", "Hanoi", "Asia"},
    {"Chile", "Santiago", "South America"},
    {"Morocco", "Rabat", "Africa"},
    {"Nigeria", "Abuja", "Africa"},
    {"New Zealand", "Wellington", "Oceania"},
    {"Germany", "Berlin", "Europe"},
    {"Italy", "Rome", "Europe"},
};

struct QA {
    std::string question;
    std::string answer;
    std::string detail;
};

QA trivia_item(Draw& d, size_t item_idx) {
    if (item_idx < std::size(kScienceFacts)) {
        const Fact& f = kScienceFacts[item_idx];
        return {f.question, f.answer, f.detail};
    }
    const Capital& c = kCapitals[item_idx - std::size(kScienceFacts)];
    const Vars v = {{"country", c.country}, {"city", c.city}, {"continent", c.continent}};
    constexpr const char* kDetails[] = {"{country} is a country in {continent}.",
                                        "{city} is also where the national government of {country} sits."};
    return {fill("What is the capital of {country}?", v), fill("The capital of {country} is {city}.", v),
            fill(d.pick(kDetails), v)};
}

Turns make_trivia(Draw& d, Variant variant) {
    const size_t n_items = std::size(kScienceFacts) + std::size(kCapitals);
    const std::vector<size_t> perm = d.permutation(n_items);
    const size_t n_questions = d.percent(30) ? 1 : static_cast<size_t>(d.range(2, 5));
    std::vector<QA> qas;
    for (size_t idx = 0; idx < n_questions; ++idx) qas.push_back(trivia_item(d, perm[idx]));
    Turns t;
    if (variant == Variant::kPool) {
        if (n_questions == 1) {
            constexpr const char* kTails[] = {" Please explain briefly.", " Give a short answer with some context."};
            t.user = qas[0].question + d.pick(kTails);
            t.assistant = qas[0].answer + " " + qas[0].detail;
        } else {
            t.user = "Answer these general knowledge questions:";
            for (size_t idx = 0; idx < qas.size(); ++idx) {
                t.user += fmt::format("\n{}. {}", idx + 1, qas[idx].question);
                t.assistant += fmt::format("{}{}. {}", idx ? "\n" : "", idx + 1, qas[idx].answer);
                if (d.percent(60)) t.assistant += " " + qas[idx].detail;
            }
        }
    } else {
        if (n_questions == 1) {
            t.user = "Quick quiz question: " + qas[0].question + " I'd also like one interesting detail about it.";
            t.assistant = "Answer: " + qas[0].answer + "\nDetail: " + qas[0].detail;
        } else {
            t.user = "Quiz night practice! For each question, give the answer and one interesting detail.";
            for (const QA& qa : qas) t.user += "\n- " + qa.question;
            for (size_t idx = 0; idx < qas.size(); ++idx)
                t.assistant += fmt::format("{}- {} {}", idx ? "\n" : "", qas[idx].answer, qas[idx].detail);
        }
    }
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// email_writing

struct EmailPurpose {
    const char* pool_ask;    // after "Write a short email to {recipient} "
    const char* target_ask;  // after "I need to "
    const char* subject;
    const char* opening;
    const char* options[5];  // a subset is kept, in order
    const char* closing;
    const char* recipient;  // nullptr: any recipient
};

constexpr EmailPurpose kPurposes[] = {
    {"asking to reschedule our meeting on {day}",
     "tell {recipient} that I can't make our meeting on {day} and suggest another time",
     "Rescheduling our {day} meeting",
     "I am writing to ask whether we could move our meeting on {day}.",
     {"Something urgent has come up on my side, and I would rather give our discussion my full attention than rush "
      "through it.",
      "Would {alt_day} at {time} work for you instead?",
      "If that does not suit you, I am happy to fit around your "
      "schedule.",
      "I am sorry for the short notice.", "I will bring the updated figures we talked about last time."},
     "Thank you for understanding.",
     nullptr},
    {"thanking them for their help with the {project}",
     "thank {recipient} for helping with the {project}",
     "Thank you for your help",
     "I wanted to say a big thank you for your help with the {project}.",
     {"Your advice on the schedule saved us at least a week of work.",
      "Everyone noticed how patiently you answered every question.",
      "I learned a lot from watching how you organised everything.",
      "The {project} went smoothly, and a lot of that is thanks to you.",
      "Please let me know if I can ever return the favour."},
     "I really appreciate it.",
     nullptr},
    {"requesting time off from {start} to {end}",
     "ask {recipient} for some days off from {start} to {end}",
     "Time off request: {start} to {end}",
     "I would like to request time off from {start} to {end}.",
     {"I have already checked that none of my deadlines fall in that period.",
      "{colleague} has kindly agreed to cover my open tasks while I am away.",
      "I will make sure my notes are up to date before I leave.",
      "I can still be reached by phone for anything urgent.",
      "Please let me know if these dates cause any problems for the team."},
     "Thank you for considering my request.",
     "your manager"},
    {"following up on an unpaid invoice",
     "remind {recipient} politely that invoice {invoice} is still unpaid",
     "Invoice {invoice}: friendly reminder",
     "I am following up on invoice {invoice}, which was due on {start}.",
     {"According to our records, we have not yet received the payment.",
      "I have attached a copy of the invoice for your convenience.",
      "If the payment has already been sent, please ignore this message.",
      "Let me know if anything on the invoice needs clarifying.",
      "We value working with you and appreciate your prompt attention."},
     "Thank you in advance.",
     "a client"},
    {"inviting the team to lunch on {day}",
     "invite {recipient} and the rest of the team to lunch this {day}",
     "Team lunch on {day}",
     "I would like to invite everyone to a team lunch this {day} at {lunch_time}.",
     {"We have booked a table at a small Italian place a short walk from the office.",
      "It is a chance to celebrate finishing the {project}.", "Vegetarian and vegan options are available.",
      "Please reply by {alt_day} so I can confirm the numbers.", "Lunch is on the company."},
     "I hope you can make it.",
     nullptr},
    {"apologising for a late reply",
     "apologise to {recipient} for my slow reply about the {project}",
     "Sorry for my late reply",
     "I am sorry for taking so long to reply to your message about the {project}.",
     {"The last two weeks have been unusually busy, but that is no excuse.",
      "To answer your question: yes, I can review the draft by {alt_day}.",
      "I have also shared your notes with the rest of the team.",
      "From now on, I will set aside time each morning for email.", "Thank you for your patience."},
     "I look forward to working with you on the next steps.",
     nullptr},
};

constexpr const char* kRecipients[] = {"your manager", "a colleague", "a client", "a team member"};
constexpr const char* kRecipientNames[] = {"Ms. Alvarez", "Mr. Chen", "Dr. Novak", "Jonas", "Daniel", "Grace"};
constexpr const char* kProjects[] = {"office move", "product launch", "quarterly report", "charity fundraiser",
                                     "website redesign"};
constexpr const char* kTimes[] = {"10 am", "2 pm", "3:30 pm", "11 am"};
constexpr const char* kLunchTimes[] = {"12:30", "noon", "1 pm"};
constexpr const char* kSignoffs[] = {"Best regards,", "Kind regards,", "Thanks,", "All the best,"};
constexpr const char* kGreetings[] = {"Hi", "Dear", "Hello"};

Turns make_email(Draw& d, Variant variant) {
    const EmailPurpose& purpose = d.pick(kPurposes);
    const size_t day_idx = d.below(std::size(kWeekdays));
    const size_t alt_idx = (day_idx + 1 + d.below(std::size(kWeekdays) - 1)) % std::size(kWeekdays);
    const std::string month = d.pick(kMonths);
    const int64_t first_day = d.range(1, 19), last_day = first_day + d.range(2, 9);
    std::string recipient = purpose.recipient ? purpose.recipient : d.pick(kRecipients);
    if (variant == Variant::kTarget && recipient.rfind("your ", 0) == 0) recipient = "my " + recipient.substr(5);
    const Vars v = {{"day", kWeekdays[day_idx]},
                    {"alt_day", kWeekdays[alt_idx]},
                    {"time", d.pick(kTimes)},
                    {"lunch_time", d.pick(kLunchTimes)},
                    {"project", d.pick(kProjects)},
                    {"start", fmt::format("{} {}", month, first_day)},
                    {"end", fmt::format("{} {}", month, last_day)},
                    {"invoice", fmt::format("#{}", d.range(1000, 9999))},
                    {"colleague", d.pick(kPeople).name},
                    {"recipient", recipient}};
    std::string body = fill(purpose.opening, v);
    for (size_t idx : d.sorted_subset(std::size(purpose.options), static_cast<size_t>(d.range(1, 4))))
        body += " " + fill(purpose.options[idx], v);
    // One draw per statement: the operands of an overloaded + are not sequenced, and the bytes must not depend
    // on the compiler's evaluation order.
    const std::string greeting = d.pick(kGreetings);
    const std::string addressee = d.pick(kRecipientNames);
    const std::string signoff = d.pick(kSignoffs);
    const std::string sender = d.pick(kPeople).name;
    const std::string email = "Subject: " + fill(purpose.subject, v) + "\n\n" + greeting + " " + addressee + ",\n\n" +
                              body + "\n\n" + fill(purpose.closing, v) + "\n\n" + signoff + "\n" + sender;
    Turns t;
    if (variant == Variant::kPool) {
        constexpr const char* kTones[] = {"", " Keep it polite and professional.",
                                          " The tone should be warm but not too casual.", " Include a subject line."};
        t.user = "Write a short email to " + recipient + " " + fill(purpose.pool_ask, v) + "." + d.pick(kTones);
        t.assistant = email;
    } else {
        constexpr const char* kAsks[] = {"Can you draft a brief message for me? I need to {ask}.",
                                         "Help me word an email: I need to {ask}. Friendly but professional, please."};
        t.user = fill(d.pick(kAsks), {{"ask", fill(purpose.target_ask, v)}});
        t.assistant = "Here is a draft you can adapt:\n\n" + email;
    }
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// creative_writing

struct PoemTopic {
    const char* topic;
    const char* titles[2];
    const char* lines[8];
};

constexpr PoemTopic kPoemTopics[] = {
    {"the sea",
     {"Tide Notes", "Harbour Morning"},
     {"Grey waves fold over one another like pages,", "the salt wind tugs at the harbour flags,",
      "gulls argue over the morning catch,", "and the tide writes its name across the sand",
      "only to erase it an hour later.", "Far out, a single boat leans into the light,",
      "its sail a small white promise,", "while the shore keeps every shell it is given."}},
    {"autumn",
     {"October Letters", "The Year Turning"},
     {"The maple lets go of its red letters one by one,", "and the path fills with their quiet gossip.",
      "Smoke drifts from a chimney down the lane,", "apples soften in a bowl by the window,",
      "and the afternoon light turns the colour of honey.", "Geese stitch a line across the cooling sky,",
      "the wind tries every door in the street,", "and the year begins, gently, to close its book."}},
    {"a city at night",
     {"Neon Lullaby", "After Midnight"},
     {"Streetlights hum their one long note,", "taxis carry small pieces of the evening home,",
      "a bakery window glows before anyone is awake,", "and rain turns the crossings into mirrors.",
      "Somewhere a saxophone practises the same bar again,", "high windows blink out one by one,",
      "the last train sighs into the station,", "and the city breathes slowly, dreaming in neon."}},
    {"mountains in winter",
     {"White Ridge", "Summit Silence"},
     {"Snow has rounded every edge of the ridge,", "pines stand shoulder to shoulder against the cold,",
      "a hawk hangs still above the frozen valley,", "and the river runs silent under its glass.",
      "Our boots write a slow sentence up the slope,", "breath rising like small clouds of thought,",
      "until the summit opens the whole white sky", "and the world goes quiet enough to hear."}},
    {"a rainy morning",
     {"Window Weather", "Slow Start"},
     {"Rain taps its patient code against the glass,", "the kettle answers with a rising whistle,",
      "umbrellas bloom along the street below,", "and puddles gather the grey of the sky.",
      "The cat watches drops race down the window,", "the radio murmurs news nobody needs yet,",
      "a warm mug steams between two hands,", "and the day agrees to start a little later."}},
    {"an old library",
     {"The Reading Room", "Between the Stacks"},
     {"Dust turns slowly in a shaft of light,", "spines of faded leather lean together,",
      "a clock ticks somewhere behind the stacks,", "and the smell of paper holds a hundred years.",
      "Margins keep the pencil notes of strangers,", "a ladder waits beside the highest shelf,",
      "whispers travel further than they mean to,", "and every closed book is a door left ajar."}},
    {"the first day of spring",
     {"Thaw", "Open Windows"},
     {"Green shoots push up through the cold soil,", "a blackbird tries out its new song,",
      "windows open for the first time in months,", "and the washing dances on the line.",
      "Children leave their coats on the garden wall,", "bees wander between the crocuses,",
      "the evening lingers a little longer at the door,", "and everything seems to start again."}},
    {"a lighthouse",
     {"The Keeper's Light", "Last Rock"},
     {"On the last rock before the open sea", "the lighthouse turns its slow white eye,",
      "counting ships it will never meet.", "Storms have tried its walls for a century,",
      "the keeper's stairs wind upward like a shell,", "and fog rolls in to test its voice.",
      "Still it answers every dark night the same way:", "here is the shore, here is the way home."}},
};

Turns make_poem(Draw& d, Variant variant) {
    const PoemTopic& topic = d.pick(kPoemTopics);
    const std::string title = d.pick(topic.titles);
    const std::vector<size_t> keep = d.sorted_subset(8, static_cast<size_t>(d.range(4, 8)));
    std::string poem;
    for (size_t idx = 0; idx < keep.size(); ++idx) {
        std::string line = topic.lines[keep[idx]];
        if (idx + 1 == keep.size() && (line.back() == ',' || line.back() == ':')) line.back() = '.';
        if (idx + 1 == keep.size() && line.back() != '.') line += '.';
        // Lines were written to run on from their neighbours; after dropping some, fix the capitals.
        const size_t prev_end_pos = poem.find_last_not_of('\n');
        const char prev_end = prev_end_pos == std::string::npos ? '.' : poem[prev_end_pos];
        if (prev_end == '.' || prev_end == ':') {
            line = cap(line);
        } else if (line[0] >= 'A' && line[0] <= 'Z') {
            line[0] = static_cast<char>(line[0] - 'A' + 'a');
        }
        poem += line + "\n";
        if (idx % 4 == 3 && idx + 1 < keep.size()) poem += "\n";
    }
    const Vars v = {{"topic", topic.topic}};
    Turns t;
    if (variant == Variant::kPool) {
        constexpr const char* kAsks[] = {"Write a short poem about {topic}.", "Write a poem about {topic}.",
                                         "Could you write a few lines of poetry about {topic}?"};
        constexpr const char* kExtras[] = {"", " It does not need to rhyme.", " Use vivid images.",
                                           " Make it calm and reflective."};
        const std::string ask = fill(d.pick(kAsks), v);
        t.user = ask + d.pick(kExtras);
        t.assistant = (d.percent(40) ? "Here is a short poem:\n\n" : "") + title + "\n\n" + poem;
    } else {
        constexpr const char* kAsks[] = {"Compose some free verse on the theme of {topic}, and give it a title.",
                                         "I'd love a little poem about {topic} to put in a card for a friend who "
                                         "loves it. Nothing too long, please."};
        t.user = fill(d.pick(kAsks), v);
        t.assistant = "Title: " + title + "\n\n" + poem;
    }
    while (!t.assistant.empty() && t.assistant.back() == '\n') t.assistant.pop_back();
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// Families and drivers

struct Family {
    const char* name;
    Turns (*make)(Draw&, Variant);
};

constexpr Family kFamilies[] = {
    {"math_word_problems", make_math}, {"code_generation", make_code},
    {"translation", make_translation}, {"sentiment_classification", make_sentiment},
    {"summarization", make_summary},   {"trivia_qa", make_trivia},
    {"email_writing", make_email},     {"creative_writing", make_poem},
};

constexpr size_t kMinWords = 30;
constexpr size_t kMaxWords = 200;

// Redraws until the sample has kMinWords..kMaxWords words. The templates are sized so that almost every draw
// fits; the loop only trims the rare outlier, and staying inside it is our bug, not the caller's.
Turns make_sized(const Family& family, Draw& d, Variant variant) {
    for (int attempt = 0; attempt < 1000; ++attempt) {
        Turns t = family.make(d, variant);
        const size_t n_words = word_count(t.user) + word_count(t.assistant);
        if (n_words >= kMinWords && n_words <= kMaxWords) return t;
    }
    MONA_ASSERT(false,
                "demo corpus template cannot produce a sample of 30..200 words; this is a bug in mona, please "
                "report it with the command line");
    return {};
}

}  // namespace

std::vector<std::string> demo_families() {
    std::vector<std::string> out;
    for (const Family& f : kFamilies) out.emplace_back(f.name);
    return out;
}

std::vector<DemoSample> demo_pool(uint64_t seed, int per_family) {
    std::vector<DemoSample> grouped;
    if (per_family <= 0) return grouped;
    grouped.reserve(static_cast<size_t>(per_family) * std::size(kFamilies));
    for (size_t family_idx = 0; family_idx < std::size(kFamilies); ++family_idx) {
        Draw d(stream_seed(seed, kPoolStream, family_idx));
        for (int sample_idx = 0; sample_idx < per_family; ++sample_idx) {
            Turns t = make_sized(kFamilies[family_idx], d, Variant::kPool);
            grouped.push_back({"", kFamilies[family_idx].name, std::move(t.user), std::move(t.assistant)});
        }
    }
    Draw shuffle(stream_seed(seed, kShuffleStream, 0));
    const std::vector<size_t> order = shuffle.permutation(grouped.size());
    std::vector<DemoSample> pool;
    pool.reserve(grouped.size());
    for (size_t pos = 0; pos < order.size(); ++pos) {
        pool.push_back(std::move(grouped[order[pos]]));
        pool.back().id = fmt::format("pool-{:05d}", pos);
    }
    return pool;
}

std::vector<DemoSample> demo_targets(const std::string& task, uint64_t seed, int n) {
    std::vector<DemoSample> out;
    if (n <= 0) return out;
    for (size_t family_idx = 0; family_idx < std::size(kFamilies); ++family_idx) {
        if (task != kFamilies[family_idx].name) continue;
        Draw d(stream_seed(seed, kTargetStream, family_idx));
        for (int sample_idx = 0; sample_idx < n; ++sample_idx) {
            Turns t = make_sized(kFamilies[family_idx], d, Variant::kTarget);
            out.push_back(
                {fmt::format("target-{}-{:03d}", task, sample_idx), task, std::move(t.user), std::move(t.assistant)});
        }
    }
    return out;
}

std::vector<std::string> demo_training_texts(uint64_t seed, int n) {
    std::vector<std::string> out;
    if (n <= 0) return out;
    Draw d(stream_seed(seed, kTrainStream, 0));
    out.reserve(static_cast<size_t>(n));
    for (int text_idx = 0; text_idx < n; ++text_idx) {
        const Family& family = d.pick(kFamilies);
        const Variant variant = d.percent(50) ? Variant::kPool : Variant::kTarget;
        const Turns t = make_sized(family, d, variant);
        out.push_back(t.user + "\n\n" + t.assistant);
    }
    return out;
}

std::string to_jsonl(const std::vector<DemoSample>& samples) {
    std::string out;
    for (const DemoSample& s : samples) {
        nlohmann::ordered_json j;
        j["id"] = s.id;
        j["task"] = s.task;
        j["messages"] = nlohmann::ordered_json::array(
            {{{"role", "user"}, {"content", s.user}}, {{"role", "assistant"}, {"content", s.assistant}}});
        out += j.dump();
        out += '\n';
    }
    return out;
}

}  // namespace mona
