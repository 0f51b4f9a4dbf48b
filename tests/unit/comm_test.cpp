// util/comm.hpp without a launcher: one rank whose collectives hand the data back; the byte packing the ranks
// exchange is tested in bytes_test.cpp. (Several ranks are tested end to end with mpirun in
// tests/integration/store_e2e_test.cpp.)
#include "util/comm.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace mona {
namespace {

TEST(Comm, LocalIsOneRank) {
    const Comm& comm = Comm::local();
    EXPECT_EQ(0, comm.rank());
    EXPECT_EQ(1, comm.size());
    EXPECT_TRUE(comm.is_root());
    std::string bytes = "abc";
    comm.broadcast(bytes);
    EXPECT_EQ("abc", bytes);
    EXPECT_EQ((std::vector<std::string>{"xyz"}), comm.gather("xyz"));
    const Status status = comm.broadcast_status(not_found("no such file"));
    EXPECT_EQ(StatusCode::kNotFound, status.code());
    EXPECT_EQ("no such file", status.message());
}

TEST(Comm, WorldWithoutALauncherIsLocal) {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
        ::unsetenv(var);
    }
    auto world = Comm::world();
    ASSERT_TRUE(world.ok()) << world.status().message();
    EXPECT_EQ(&Comm::local(), world.value());
}

}  // namespace
}  // namespace mona
