#include "commands.hpp"
namespace mona::cli {
int cmd_train_sae(const ParsedArgs&) { return report_error(unsupported("train-sae: not built yet")); }
}
