#include "mona/status.hpp"

namespace mona {

const char* status_code_name(StatusCode code) {
    switch (code) {
        case StatusCode::kOk: return "ok";
        case StatusCode::kInvalidInput: return "invalid input";
        case StatusCode::kNotFound: return "not found";
        case StatusCode::kIo: return "i/o error";
        case StatusCode::kUnsupported: return "unsupported";
        case StatusCode::kInternal: return "internal error";
    }
    return "unknown";
}

void assert_fail(const char* file, int line, const char* cond, const char* what) {
    std::fprintf(stderr,
                 "mona: internal error at %s:%d: %s (%s)\n"
                 "this is a bug in mona, please report it with the command line\n",
                 file, line, what, cond);
    std::abort();
}

}  // namespace mona
