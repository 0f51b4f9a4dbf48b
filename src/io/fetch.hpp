// io/fetch.hpp: where a model comes from.
//
// A model source is a local path (used as is) or an http(s):// or file:// URL. A URL is downloaded once into
// $MONA_HOME/models/<file name> with the `curl` program: the partial file `<name>.part` is resumed if a previous
// download was interrupted, the sha256 is checked when one is given (a mismatch removes the partial file and is
// an error naming both digests), and the file is renamed into place only when complete. Later calls find the
// cached file and return at once (re-checking the sha256 when given).
#pragma once

#include <string>

#include "mona/status.hpp"

namespace mona {

bool is_url(const std::string& source);

// Returns a local path for `source`. `sha256` is "" (no check) or 64 hex digits. `cache_dir` "" = $MONA_HOME/models.
Result<std::string> resolve_model_source(const std::string& source, const std::string& sha256,
                                         const std::string& cache_dir = "");

}  // namespace mona
