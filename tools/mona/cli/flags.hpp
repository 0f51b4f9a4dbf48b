// cli/flags.hpp: every command-line verb and flag of `mona`, declared once.
//
// The tables drive parsing, `mona <verb> --help`, the README's CLI reference (`mona help --markdown`; a test
// checks the README matches), the MONA_<NAME> environment fallbacks, the flags each verb requires and the
// defaults the commands read. A flag's default is typed and, where a config struct has the field, taken from the
// struct (`SelectConfig{}.max_tokens`), so a default is written in one place: the struct, or the table for
// flags only the CLI has (train-sae's schedule).
//
// Parsing is the raw phase only: it checks that flags exist for the verb, that integers are integers within the
// flag's range (a value that does not fit is refused, never narrowed: ParsedArgs::get_int<T> refuses to read a
// flag whose range does not fit T) and that numbers are finite numbers; the meaning of values (does the layer
// exist in this model?) is settled later, once the model and SAE headers are read.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mona/status.hpp"

namespace mona::cli {

enum class ValueKind { kSwitch, kString, kInt, kFloat };

// A flag's default: none (std::monostate: the command decides, as the help text says), or a value of the
// flag's kind (kInt: int64_t, kFloat: double, kString: std::string). ParsedArgs returns it when the flag is
// not given.
using FlagValue = std::variant<std::monostate, int64_t, double, std::string>;

// How one verb takes a flag, where it differs from the flag's defaults.
struct FlagUse {
    std::string verb;
    bool required = false;                         // the verb refuses to run without it (usage error, exit 2)
    std::optional<std::string> help = {};          // this verb's description, replacing FlagSpec::help
    std::optional<FlagValue> default_value = {};   // this verb's default, replacing FlagSpec::default_value
    std::optional<std::string> default_text = {};  // this verb's default in words, replacing FlagSpec::default_text
};

struct FlagSpec {
    std::string name;     // long name without dashes
    char short_name = 0;  // 0 = none
    ValueKind kind = ValueKind::kString;
    std::string hint;  // value placeholder in help, e.g. "PATH"
    std::string help;
    FlagValue default_value;    // typed; see FlagValue
    std::string default_text;   // the default in words, shown instead of default_value ("all cores" for 0)
    std::vector<FlagUse> uses;  // the verbs that take the flag, in help order
    bool repeatable = false;
    // kInt: the accepted range, checked when parsing (values outside it are usage errors, never narrowed).
    int64_t min_value = INT64_MIN;
    int64_t max_value = INT64_MAX;

    // The flag's use by `verb`, or nullptr when the verb does not take it.
    const FlagUse* use(const std::string& verb) const;
    // What `verb` shows and uses: per-verb override, else the flag's own.
    const std::string& help_for(const std::string& verb) const;
    const FlagValue& default_for(const std::string& verb) const;
    // The default as help shows it ("" = none): the words if any, else the typed value.
    std::string default_shown(const std::string& verb) const;
};

struct VerbSpec {
    std::string name;
    std::string summary;
    bool splits_over_ranks = false;  // runs under mpirun with several ranks, splitting its work (embed, score)
    std::string example = {};        // one typical command line, shown by `mona <verb> -h/--help`
};

const std::vector<FlagSpec>& flag_table();
const std::vector<VerbSpec>& verb_table();
// The table's entry for `name`, or nullptr.
const FlagSpec* find_flag(const std::string& name);
const VerbSpec* find_verb(const std::string& name);

struct ParsedArgs {
    std::string verb;
    std::string command_line;                                // argv joined by spaces, for manifests
    std::map<std::string, std::vector<std::string>> values;  // flag name -> values given (switches hold "1")
    std::string help_topic;                                  // `mona help <verb>`: the verb whose help to print
    bool help_long = false;  // --help (long: defaults, env, notes) rather than -h (one line per flag)

    bool has(const std::string& name) const { return values.count(name) > 0; }
    bool on(const std::string& name) const { return has(name); }
    // The last value given, else the verb's default (string flags without one: ""). A flag the verb does not
    // take reads as the flag's own default, so config builders can be shared by verbs (select, eval, embed, ...).
    std::string get(const std::string& name) const;
    std::vector<std::string> all(const std::string& name) const;
    // The value given, else the verb's default. A flag that is neither given nor has a default, or (get_int)
    // whose range does not fit T, is a bug in the calling command and aborts (MONA_ASSERT): check has() first.
    template <class T = int64_t>
    T get_int(const std::string& name) const {
        const FlagSpec& flag = int_flag(name);
        MONA_ASSERT(flag.min_value >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                        static_cast<uint64_t>(flag.max_value) <= static_cast<uint64_t>(std::numeric_limits<T>::max()),
                    "the flag's range fits the type it is read as (no narrowing)");
        return static_cast<T>(int_value(flag));
    }
    double get_float(const std::string& name) const;

   private:
    const FlagSpec& int_flag(const std::string& name) const;
    int64_t int_value(const FlagSpec& flag) const;
};

// argv[1] is the verb. Unknown verbs/flags, flags not valid for the verb, missing or malformed values, integers
// outside the flag's [min_value, max_value] and non-finite numbers are kInvalidInput (a usage error, exit code 2).
// Environment variables MONA_<NAME> (upper case, '-' -> '_') fill flags not given: the command line beats the
// environment, which beats the defaults. An explicit flag also silences the environment of the flags it excludes
// (`MONA_COUNT=3 mona select ... --ratio 0.1` selects by ratio). Unknown verbs and flags name the closest known
// one ("did you mean --target?").
Result<ParsedArgs> parse_args(int argc, const char* const* argv);
// The flags that exclude each other (--count/--ratio): giving two of one group is a usage error.
const std::vector<std::vector<std::string>>& exclusive_flags();
// Values of flags with a fixed set of words (--tokens, --pooling, --format, --cpu-repack, --merge) and the
// exclusive groups, checked before a command runs so that each of these is a usage error (exit 2) for every verb.
Status check_values(const ParsedArgs& args);
// The word of `known` closest to `word` by edit distance, or "" when none is close enough to be a likely typo.
std::string closest(const std::string& word, const std::vector<std::string>& known);
// The flags args.verb requires that are missing: kInvalidInput naming the first one and the verb. Separate from
// parse_args because `mona <verb> --help` needs none.
Status check_required(const ParsedArgs& args);

std::string usage_text();
// `mona <verb> -h` (long_form false: usage, one line per flag, the example) or `--help` (also each flag's
// default and environment variable, and how the command line, environment and defaults combine).
std::string verb_help(const std::string& verb, bool long_form = true);
std::string markdown_reference();

}  // namespace mona::cli
