#include "commands.hpp"
namespace mona::cli {
int cmd_activations(const ParsedArgs&) { return report_error(unsupported("activations: not built yet")); }
}
