// capture/llama_init.hpp: llama.cpp's process-wide set-up, shared by the Session (session.cpp) and the trainer
// (finetune.cpp): the log callback that keeps the last error lines, the CPU variant and llama_backend_init, once.
#pragma once

#include <string>

namespace mona::detail {

// Idempotent; `verbose` forwards llama.cpp's log to stderr from now on.
void init_llama(bool verbose);
// llama.cpp's last error/warning lines since the previous call ("" if none), joined by "; ".
std::string take_llama_error_lines();

}  // namespace mona::detail
