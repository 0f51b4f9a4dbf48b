#include "util/comm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#ifndef MONA_WITH_MPI
#define MONA_WITH_MPI 0
#endif
#if MONA_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: the deprecated C++ bindings need another library
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace mona {
namespace {

// The number of ranks an MPI launcher announced in the environment, or 0 when not started by one.
int launcher_size() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
        const char* value = std::getenv(var);
        if (value != nullptr && *value != '\0') return std::max(1, std::atoi(value));
    }
    // PMIx without a size variable (e.g. some srun set-ups): a rank says a launcher is there.
    const char* rank = std::getenv("PMIX_RANK");
    return rank != nullptr && *rank != '\0' ? 1 : 0;
}

#if MONA_WITH_MPI
bool g_mpi_initialised = false;
constexpr uint64_t kChunk = uint64_t{1} << 30;  // MPI counts are int: move payloads in 1 GiB pieces

void bcast_bytes(char* data, uint64_t n) {
    for (uint64_t done = 0; done < n; done += kChunk) {
        const int count = static_cast<int>(std::min(kChunk, n - done));
        MPI_Bcast(data + done, count, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
}
#endif

}  // namespace

const Comm& Comm::local() {
    static const Comm comm(0, 1, false);
    return comm;
}

bool Comm::built_with_mpi() { return MONA_WITH_MPI != 0; }

int Comm::launcher_ranks() { return launcher_size(); }

Result<const Comm*> Comm::world() {
    const int announced = launcher_size();
    if (announced == 0) return &local();
#if MONA_WITH_MPI
    static Comm* comm = nullptr;
    if (comm == nullptr) {
        int already = 0;
        MPI_Initialized(&already);
        if (!already) {
            MPI_Init(nullptr, nullptr);
            g_mpi_initialised = true;
        }
        int rank = 0, size = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        comm = new Comm(rank, size, true);  // lives until exit, like MPI_COMM_WORLD
    }
    return static_cast<const Comm*>(comm);
#else
    if (announced > 1) {
        return unsupported(fmt::format(
            "started by an MPI launcher with {} ranks, but this mona was built without MPI: every rank would do the "
            "whole job; rebuild with the MPI packages installed (CMake -DMONA_MPI=ON), or run without mpirun",
            announced));
    }
    return &local();
#endif
}

void Comm::finalize() {
#if MONA_WITH_MPI
    if (g_mpi_initialised) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
        g_mpi_initialised = false;
    }
#endif
}

void Comm::broadcast(std::string& bytes) const {
    if (size_ == 1) return;
#if MONA_WITH_MPI
    uint64_t n = bytes.size();
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    bytes.resize(n);
    bcast_bytes(bytes.data(), n);
#else
    (void)bytes;
    MONA_ASSERT(false, "a multi-rank Comm without MPI");
#endif
}

std::vector<std::string> Comm::gather(const std::string& bytes) const {
    if (size_ == 1) return {bytes};
#if MONA_WITH_MPI
    // Sizes first, then each rank's bytes to rank 0 point to point, in chunks.
    const uint64_t n = bytes.size();
    std::vector<uint64_t> sizes(is_root() ? static_cast<size_t>(size_) : 0);
    MPI_Gather(&n, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (!is_root()) {
        for (uint64_t done = 0; done < n; done += kChunk) {
            const int count = static_cast<int>(std::min(kChunk, n - done));
            MPI_Send(bytes.data() + done, count, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
        return {};
    }
    std::vector<std::string> all(static_cast<size_t>(size_));
    all[0] = bytes;
    for (int rank = 1; rank < size_; ++rank) {
        std::string& dst = all[static_cast<size_t>(rank)];
        dst.resize(sizes[static_cast<size_t>(rank)]);
        for (uint64_t done = 0; done < dst.size(); done += kChunk) {
            const int count = static_cast<int>(std::min<uint64_t>(kChunk, dst.size() - done));
            MPI_Recv(dst.data() + done, count, MPI_BYTE, rank, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
    }
    return all;
#else
    MONA_ASSERT(false, "a multi-rank Comm without MPI");
    return {};
#endif
}

Status Comm::broadcast_status(const Status& status) const {
    if (size_ == 1) return status;
    ByteWriter writer;
    writer.put<int32_t>(static_cast<int32_t>(status.code()));
    writer.put_string(status.message());
    broadcast(writer.bytes());
    ByteReader reader(writer.bytes());
    const auto code = static_cast<StatusCode>(reader.get<int32_t>());
    std::string message = reader.get_string();
    return code == StatusCode::kOk ? Status() : Status(code, std::move(message));
}

}  // namespace mona
