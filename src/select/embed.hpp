// select/embed.hpp: moved to embed/embedder.hpp (the pipeline stage). This forwarding header stays only until
// eval/ includes the new path; new code includes embed/embedder.hpp.
#pragma once

#include "embed/embedder.hpp"
