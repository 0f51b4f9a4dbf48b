// util/comm.hpp without a launcher: one rank whose collectives hand the data back, and the byte packing the
// ranks exchange. (Several ranks are tested end to end with mpirun in tests/integration/store_e2e_test.cpp.)
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

TEST(ByteWriter, RoundTrip) {
    ByteWriter writer;
    writer.put<int32_t>(-7);
    writer.put<uint64_t>(std::numeric_limits<uint64_t>::max());
    writer.put(0.1);
    writer.put_string("");
    writer.put_string(std::string("a\0b", 3));
    writer.put_vector(std::vector<float>{1.5f, -0.0f, 3e38f});
    writer.put_vector(std::vector<double>{});
    const std::string bytes = writer.bytes();
    ByteReader reader(bytes);
    EXPECT_EQ(-7, reader.get<int32_t>());
    EXPECT_EQ(std::numeric_limits<uint64_t>::max(), reader.get<uint64_t>());
    EXPECT_EQ(0.1, reader.get<double>());
    EXPECT_EQ("", reader.get_string());
    EXPECT_EQ(std::string("a\0b", 3), reader.get_string());
    const std::vector<float> floats = reader.get_vector<float>();
    ASSERT_EQ(3u, floats.size());
    EXPECT_EQ(1.5f, floats[0]);
    EXPECT_TRUE(std::signbit(floats[1]));
    EXPECT_EQ(3e38f, floats[2]);
    EXPECT_TRUE(reader.get_vector<double>().empty());
    EXPECT_TRUE(reader.done());
}

}  // namespace
}  // namespace mona
