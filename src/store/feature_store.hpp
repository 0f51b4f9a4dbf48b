// store/feature_store.hpp: the feature store is public API; its header is include/mona/feature_store.hpp.
#pragma once

#include "mona/feature_store.hpp"
