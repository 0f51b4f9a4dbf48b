// mona/mona.hpp: the public C++ API of mona, in one include (installed with the library; find_package(mona)
// and link mona::mona). Everything here is stable; nothing here includes llama.cpp or other third-party headers.
//
//   mona/status.hpp         Status, Result<T>, MONA_TRY: every call returns its errors as values
//   mona/types.hpp          SparseVec (pooled vectors), SparseCodes (per-token codes, CSR)
//   mona/sae.hpp            SaeModel: open an SAE folder (sparsify, SAELens), info(), encode()
//   mona/feature_store.hpp  the feature store: StoreReader / StoreSet to read stored vectors (and the writer)
//   mona/jobs.hpp           the jobs of the `mona` command: select, embed, score, eval
//   mona/activations.hpp    `mona activations` as values: token ids, residual rows, SAE codes, pooled vectors
//   mona/log.hpp            the log/progress callback
//   mona/model.hpp          a GGUF model's summary (`mona info --model`); the default model and SAE paths
//   mona/vectors.hpp        pool per-token codes into sample vectors; generalized Jaccard of two vectors
//
// Example (examples/select_example.cpp): open an SAE, encode rows, read a store; or run a whole selection:
//   mona::SelectJobOptions job;
//   job.common.pool_path = "pool.jsonl";
//   job.common.out_dir = "out";
//   job.targets = {{"math", "math.jsonl"}};
//   mona::Result<mona::SelectJobResult> result = mona::run_select_job(job);
#pragma once

#include "mona/activations.hpp"
#include "mona/feature_store.hpp"
#include "mona/jobs.hpp"
#include "mona/log.hpp"
#include "mona/model.hpp"
#include "mona/sae.hpp"
#include "mona/status.hpp"
#include "mona/types.hpp"
#include "mona/vectors.hpp"

namespace mona {

// The library's version ("0.1.0").
const char* version();

}  // namespace mona
