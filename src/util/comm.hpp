// util/comm.hpp: the processes of one run: the ranks of `mpirun -n N mona ...`, or just this process.
//
// This is the only place that knows about MPI. A build with MPI (CMake option MONA_MPI, on when Open MPI or
// another MPI is found) initialises MPI only when the process was started by an MPI launcher (mpirun/mpiexec/
// srun set OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK); a plain `mona ...` never touches MPI. A build without
// MPI started under a launcher with more than one rank refuses (every rank would otherwise write the same
// outputs), naming the CMake option. Everything else in mona takes a `const Comm&` and never #ifdefs.
//
// Collectives: every rank must make the same calls in the same order (the MPI rule). Payloads are byte strings
// of any size (sent in chunks below 1 GiB). A failed MPI call aborts the whole job (MPI's default error
// handler), so the functions here return only when the operation succeeded.
//
// Usage sketch: Comm& comm = Comm::world() (once, early); work on the rank's share; gather() results at rank 0,
// which alone writes outputs; broadcast() the final status so that every rank exits with the same code.
//
// Thread-safety: call from the main thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mona/status.hpp"
#include "util/bytes.hpp"

namespace mona {

class Comm {
   public:
    // This process alone (rank 0 of 1); no MPI.
    static const Comm& local();
    // The launcher's ranks (initialising MPI on the first call), or local() when not started by a launcher.
    // Errors: kUnsupported when started by a launcher with several ranks but built without MPI.
    static Result<const Comm*> world();
    // Finalises MPI if world() initialised it (call once, at exit; a no-op otherwise).
    static void finalize();
    // Whether this build was made with MPI support.
    static bool built_with_mpi();
    // The number of ranks an MPI launcher announced in the environment; 0 when not started by one. Needs no MPI.
    static int launcher_ranks();

    int rank() const { return rank_; }
    int size() const { return size_; }
    bool is_root() const { return rank_ == 0; }

    // Rank 0's `bytes` replace every other rank's `bytes`.
    void broadcast(std::string& bytes) const;
    // Rank 0 receives every rank's bytes in rank order (its own first); the other ranks receive {}.
    std::vector<std::string> gather(const std::string& bytes) const;
    // Rank 0's status on every rank: code and message travel.
    Status broadcast_status(const Status& status) const;

   private:
    Comm(int rank, int size, bool mpi) : rank_(rank), size_(size), mpi_(mpi) {}
    int rank_ = 0;
    int size_ = 1;
    bool mpi_ = false;
};

// ByteWriter / ByteReader (util/bytes.hpp) carry the messages between ranks: the ranks of one job run the same
// binary on the same kind of machine, so values travel as raw bytes and a short message is a bug (asserted).

}  // namespace mona
