// select/select.hpp: the jobs moved to jobs/ (config.hpp, select.hpp, embed.hpp, score.hpp, engine.hpp). This
// forwarding header stays only until eval/ includes the new paths; new code includes those.
#pragma once

#include "jobs/config.hpp"
#include "jobs/embed.hpp"
#include "jobs/engine.hpp"
#include "jobs/score.hpp"
#include "jobs/select.hpp"
