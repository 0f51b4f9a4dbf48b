# Locates llama.cpp, the inference engine, in one of two ways:
#   1. the pinned source tree unpacked by scripts/fetch_llama.sh (third_party/llama.cpp, or MONA_LLAMA_SOURCE_DIR),
#      built here with only the `llama` and `ggml` library targets;
#   2. a system install found with find_package(llama) (set MONA_LLAMA_SYSTEM=ON to prefer it).
# Sets MONA_LLAMA_TARGETS to the targets mona links against.
option(MONA_LLAMA_SYSTEM "mona: use a system-installed llama.cpp (find_package(llama))" OFF)
set(MONA_LLAMA_SOURCE_DIR "${PROJECT_SOURCE_DIR}/third_party/llama.cpp" CACHE PATH "llama.cpp source tree")

if(MONA_LLAMA_SYSTEM)
    find_package(llama REQUIRED)
    set(MONA_LLAMA_TARGETS llama)
    set(MONA_LLAMA_FROM "system")
else()
    if(NOT EXISTS "${MONA_LLAMA_SOURCE_DIR}/CMakeLists.txt")
        message(FATAL_ERROR "llama.cpp source not found at ${MONA_LLAMA_SOURCE_DIR}: run scripts/fetch_llama.sh "
                            "or configure with -DMONA_LLAMA_SYSTEM=ON")
    endif()
    set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
    set(LLAMA_BUILD_TOOLS OFF CACHE BOOL "" FORCE)
    set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
    set(LLAMA_BUILD_SERVER OFF CACHE BOOL "" FORCE)
    set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
    set(LLAMA_BUILD_COMMON OFF CACHE BOOL "" FORCE)
    set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
    set(LLAMA_CURL OFF CACHE BOOL "" FORCE)
    set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)
    set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
    set(GGML_NATIVE ${MONA_NATIVE} CACHE BOOL "" FORCE)
    add_subdirectory(${MONA_LLAMA_SOURCE_DIR} ${CMAKE_BINARY_DIR}/llama.cpp EXCLUDE_FROM_ALL)
    set(MONA_LLAMA_TARGETS llama ggml)
    set(MONA_LLAMA_FROM "vendored")
endif()

if(MONA_LLAMA_FROM STREQUAL "vendored" AND EXISTS "${MONA_LLAMA_SOURCE_DIR}.version")
    file(READ "${MONA_LLAMA_SOURCE_DIR}.version" MONA_LLAMA_PIN)
    string(STRIP "${MONA_LLAMA_PIN}" MONA_LLAMA_PIN)
    set(MONA_LLAMA_VERSION "llama.cpp vendored in llama-cpp-python ${MONA_LLAMA_PIN}")
else()
    set(MONA_LLAMA_VERSION "llama.cpp (${MONA_LLAMA_FROM})")
endif()
