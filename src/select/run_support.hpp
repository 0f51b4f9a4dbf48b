// select/run_support.hpp: moved to jobs/run_support.hpp. This forwarding header stays only until eval/ includes
// the new path; new code includes jobs/run_support.hpp.
#pragma once

#include "jobs/run_support.hpp"
