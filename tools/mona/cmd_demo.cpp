#include "commands.hpp"
namespace mona::cli {
int cmd_demo(const ParsedArgs&, const std::string&) { return report_error(unsupported("demo: not built yet")); }
}
