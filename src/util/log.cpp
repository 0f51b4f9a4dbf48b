#include "mona/log.hpp"

#include <cstdio>
#include <mutex>
#include <utility>

namespace mona {
namespace {

std::mutex& log_mutex() {
    static std::mutex mutex;
    return mutex;
}

LogCallback& log_callback() {
    static LogCallback callback;
    return callback;
}

}  // namespace

void set_log_callback(LogCallback callback) {
    const std::lock_guard<std::mutex> lock(log_mutex());
    log_callback() = std::move(callback);
}

void log_message(LogLevel level, std::string_view message) {
    const std::lock_guard<std::mutex> lock(log_mutex());
    if (log_callback()) {
        log_callback()(level, message);
        return;
    }
    std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace mona
