#include "mona/status.hpp"

namespace mona {

void assert_fail(const char* file, int line, const char* cond, const char* what) {
    std::fprintf(stderr,
                 "mona: internal error at %s:%d: %s (%s)\n"
                 "this is a bug in mona, please report it with the command line\n",
                 file, line, what, cond);
    std::abort();
}

}  // namespace mona
