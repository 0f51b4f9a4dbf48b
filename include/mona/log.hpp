// mona/log.hpp: where the library's messages go (public).
//
// The library never prints on its own account: progress lines of the jobs ("mona: pool: 4000 samples, ...") and
// warnings go through one process-wide callback, which by default writes each message and a newline to stderr
// (what the `mona` command shows). An application routes them elsewhere, or drops them, with set_log_callback().
//
// Thread-safety: messages may come from any thread; the callback is called under a lock (one message at a
// time), so it must not call back into set_log_callback(). set_log_callback() may be called at any time.
#pragma once

#include <functional>
#include <string_view>

namespace mona {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// One message, without a trailing newline.
using LogCallback = std::function<void(LogLevel level, std::string_view message)>;

// Replaces the process-wide callback; an empty callback restores the default (stderr).
void set_log_callback(LogCallback callback);

// Sends one message to the current callback (used by the library; an application may use it too).
void log_message(LogLevel level, std::string_view message);

}  // namespace mona
