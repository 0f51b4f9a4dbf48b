// embed/device_backend.hpp: an EmbedBackend that keeps the pool pass on one ggml device (embed/embedder.hpp).
//
// The model runs through llama.cpp with its layers offloaded to the device (SessionOptions::gpu_layers); the
// eval callback copies the layer-L rows into the SAE graph's input tensor on the same device
// (Session::capture_to_tensor, a device-to-device copy), the SAE graph (embed/sae_graph.hpp: encode, TopK,
// pooling) runs there, and only the pooled block comes back to the host. On ggml's CPU device the same code path
// runs in host memory; on the RPC device it runs in another process. Its vectors agree with the CPU reference
// backend to sae_graph.hpp's bound, not bit for bit: a store records the backend (backend_param) and refuses to
// mix them unless asked.
//
// Limits: pooled vectors only (no keep_rows, no extra tensors: SAE training, activation dumps and the reports'
// per-token codes use the CPU backend); SAEs with constant_norm_rescale run on the CPU backend.
#pragma once

#include <memory>
#include <string>

#include "embed/embedder.hpp"
#include "embed/sae_graph.hpp"

namespace mona {

struct DeviceBackendOptions {
    // ggml device name ("CPU", "CUDA0", "RPC0", ...), or "rpc:HOST:PORT" (an rpc-server); "" = the first GPU,
    // else ggml's CPU device. The session's layers run where SessionOptions::gpu_layers put them.
    std::string device;
    SaeWeightType weight_type = SaeWeightType::kF16;
    int64_t chunk_bytes = int64_t{256} << 20;  // sae_graph.hpp: bytes of one [d_sae, rows] block
    int32_t n_threads = 1;                     // ggml CPU device threads for the SAE graph
};

// "cpu" for the CPU reference backend; "ggml:DEVICE:TYPE" for a device backend (e.g. "ggml:CUDA0:f16").
std::string backend_param(const DeviceBackendOptions& options, const std::string& device_name);

// The device backend over `session` and `sae` (both must outlive it). Errors: kInvalidInput (an unknown device,
// naming the ones present; keep_rows or extra tensors asked for), kUnsupported (the SAE), kInternal (memory).
// `backend_name` (may be null) receives backend_param of the device chosen.
Result<std::unique_ptr<EmbedBackend>> make_device_backend(Session& session, const SaeModel& sae, EmbedOptions options,
                                                          const DeviceBackendOptions& device,
                                                          std::string* backend_name = nullptr);

}  // namespace mona
