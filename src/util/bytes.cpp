#include "util/bytes.hpp"

#include <zlib.h>

namespace mona {

void Crc32::update(const void* data, size_t n) {
    if (n == 0) return;
    crc_ = static_cast<uint32_t>(::crc32_z(crc_, static_cast<const Bytef*>(data), n));
}

uint32_t crc32_of(const void* data, size_t n) {
    Crc32 crc;
    crc.update(data, n);
    return crc.value();
}

}  // namespace mona
