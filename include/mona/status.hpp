// mona/status.hpp: error values for the whole library.
//
// mona separates three kinds of failure (see docs/style in the project spec):
//   1. programmer bugs end in MONA_ASSERT, which aborts with file:line in every build;
//   2. expected failures (bad input line, missing file, width mismatch, layer out of range) travel as a
//      Status or Result<T> whose message names where (path:line, JSON field, tensor name) and what was
//      expected versus found;
//   3. foreign exceptions (json, std, bad_alloc) are caught at the edge that called foreign code and turned
//      into a Status. No exception crosses include/mona/.
//
// Usage:
//   Result<SaeModel> sae = SaeModel::open(opts);
//   if (!sae.ok()) { std::cerr << sae.status().message(); }
//   MONA_TRY(auto model, SaeModel::open(opts));   // inside a function returning Status or Result<U>
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace mona {

enum class StatusCode {
    kOk = 0,
    kInvalidInput,  // the user's file, line, field or flag is wrong
    kNotFound,      // a named file or entity does not exist
    kIo,            // the operating system refused a read or write
    kUnsupported,   // well-formed input that mona does not handle (yet)
    kInternal,      // a dependency failed in a way the input does not explain
    kCancelled,     // the caller asked the job to stop (JobCommonOptions::cancelled)
};

class [[nodiscard]] Status {
   public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok_status() { return Status(); }

    bool ok() const { return code_ == StatusCode::kOk; }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }

    // Returns a copy whose message is "<context>: <message>".
    Status with_context(const std::string& context) const {
        if (ok()) return *this;
        return Status(code_, context + ": " + message_);
    }

   private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

inline Status invalid_input(std::string m) { return Status(StatusCode::kInvalidInput, std::move(m)); }
inline Status not_found(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status io_error(std::string m) { return Status(StatusCode::kIo, std::move(m)); }
inline Status unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status internal_error(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

// Result<T> holds either a value or a non-ok Status.
template <class T>
class [[nodiscard]] Result {
   public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Status status) : v_(std::move(status)) {
        if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result built from an ok Status");
    }

    bool ok() const { return std::holds_alternative<T>(v_); }
    const Status& status() const {
        static const Status kOk;
        return ok() ? kOk : std::get<Status>(v_);
    }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

   private:
    std::variant<T, Status> v_;
};

[[noreturn]] void assert_fail(const char* file, int line, const char* cond, const char* what);

}  // namespace mona

#define MONA_ASSERT(cond, what)                                            \
    do {                                                                   \
        if (!(cond)) ::mona::assert_fail(__FILE__, __LINE__, #cond, what); \
    } while (0)

#define MONA_CONCAT_INNER_(a, b) a##b
#define MONA_CONCAT_(a, b) MONA_CONCAT_INNER_(a, b)

#define MONA_RETURN_IF_ERROR(expr)                   \
    do {                                             \
        ::mona::Status mona_status_ = (expr);        \
        if (!mona_status_.ok()) return mona_status_; \
    } while (0)

#define MONA_TRY_IMPL_(tmp, var, expr)  \
    auto tmp = (expr);                  \
    if (!tmp.ok()) return tmp.status(); \
    var = std::move(tmp).value()

#define MONA_TRY(var, expr) MONA_TRY_IMPL_(MONA_CONCAT_(mona_try_, __LINE__), var, expr)
