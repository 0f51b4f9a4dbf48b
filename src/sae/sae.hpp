// sae/sae.hpp: the SAE loader and encoder are public API; their header is include/mona/sae.hpp.
#pragma once

#include "mona/sae.hpp"
