// cli/flags.hpp: every command-line flag of `mona`, declared once.
//
// The table drives parsing, `mona <verb> --help`, the README's CLI reference (`mona help --markdown`; a test
// checks the README matches) and the MONA_<NAME> environment fallbacks. Parsing is the raw phase only: it
// checks that flags exist for the verb, that integers are integers within the flag's range (a value that does not
// fit is refused, never narrowed) and that numbers are finite numbers; the meaning of values (does the layer
// exist in this model?) is settled later, once the model and SAE headers are read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mona/status.hpp"

namespace mona::cli {

enum class ValueKind { kSwitch, kString, kInt, kFloat };

struct FlagSpec {
    std::string name;        // long name without dashes
    char short_name = 0;     // 0 = none
    ValueKind kind = ValueKind::kString;
    std::string hint;        // value placeholder in help, e.g. "PATH"
    std::string help;
    std::string default_text;  // shown in help; "" = none
    std::vector<std::string> verbs;
    bool repeatable = false;
    // kInt: the accepted range, checked when parsing (values outside it are usage errors, never narrowed).
    int64_t min_value = INT64_MIN;
    int64_t max_value = INT64_MAX;
};

struct VerbSpec {
    std::string name;
    std::string summary;
};

const std::vector<FlagSpec>& flag_table();
const std::vector<VerbSpec>& verb_table();

struct ParsedArgs {
    std::string verb;
    std::map<std::string, std::vector<std::string>> values;  // flag name -> values (switches hold "1")

    bool has(const std::string& name) const { return values.count(name) > 0; }
    std::string get(const std::string& name, const std::string& fallback = "") const;
    std::vector<std::string> all(const std::string& name) const;
    int64_t get_int(const std::string& name, int64_t fallback) const;
    double get_float(const std::string& name, double fallback) const;
    bool on(const std::string& name) const { return has(name); }
};

// argv[1] is the verb. Unknown verbs/flags, flags not valid for the verb, missing or malformed values, integers
// outside the flag's [min_value, max_value] and non-finite numbers are kInvalidInput (exit code 2). Environment variables MONA_<NAME> (upper case, '-' -> '_') fill flags not given.
Result<ParsedArgs> parse_args(int argc, const char* const* argv);

std::string usage_text();
std::string verb_help(const std::string& verb);
std::string markdown_reference();

}  // namespace mona::cli
