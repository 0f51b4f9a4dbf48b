# Locates llama.cpp, the inference engine, in one of two ways:
#   1. the pinned source tree unpacked by scripts/fetch_llama.sh (third_party/llama.cpp, or MONA_LLAMA_SOURCE_DIR),
#      built here with only the `llama` and `ggml` library targets;
#   2. a system install found with find_package(llama) (set MONA_LLAMA_SYSTEM=ON to prefer it).
# Sets MONA_LLAMA_TARGETS to the targets mona links against.
#
# Chat templates are rendered with llama.cpp's own Jinja engine (common/jinja, what `llama-server --jinja` uses),
# built here from the source tree as the static library mona_llama_jinja: only the engine and the two common/
# files it needs (json.cpp for its JSON bridge, unicode.cpp for UTF-8), not the rest of common/ (chat.cpp pulls in
# the tool-call parsers, grammars and sampling). A system llama.cpp does not install common/, so the source tree
# is needed in both ways of finding llama.cpp.
option(MONA_LLAMA_SYSTEM "mona: use a system-installed llama.cpp (find_package(llama))" OFF)
# Device backends from the same pinned source (docs/gpu.md). MONA_CUDA: ggml's CUDA backend (GGML_CUDA; needs the
# CUDA toolkit: nvcc, cuBLAS, CCCL), for CMAKE_CUDA_ARCHITECTURES if given, else the architecture the local driver
# reports (nvidia-smi), else 90 (H100/H200). One architecture takes ~30 min on 2 cores. MONA_RPC: ggml's RPC
# backend (GGML_RPC) and its server, built as mona-rpc-server: another process (or machine) as a ggml device,
# which is how the device path is tested without a GPU (tests/integration/rpc_backend_test.cpp).
option(MONA_CUDA "mona: build llama.cpp's CUDA backend (GGML_CUDA)" OFF)
option(MONA_RPC "mona: build ggml's RPC backend (GGML_RPC) and mona-rpc-server" OFF)
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
    # MONA_CPU_ALL_VARIANTS: ggml builds one CPU backend module per instruction-set level (libggml-cpu-haswell.so,
    # -skylakex.so, ...) next to the binaries, and mona loads the best one the running CPU supports at start-up
    # (src/capture/cpu_variant.cpp, which never loads the AMX one). ggml needs shared libraries for that; the
    # variable below shadows the cache entry for llama.cpp's directory only, so mona's own libraries stay static.
    if(MONA_CPU_ALL_VARIANTS)
        if(MONA_NATIVE)
            message(FATAL_ERROR "MONA_CPU_ALL_VARIANTS builds a portable binary: configure with -DMONA_NATIVE=OFF too")
        endif()
        set(GGML_BACKEND_DL ON CACHE BOOL "" FORCE)
        set(GGML_CPU_ALL_VARIANTS ON CACHE BOOL "" FORCE)
        set(BUILD_SHARED_LIBS ON)
    else()
        set(GGML_BACKEND_DL OFF CACHE BOOL "" FORCE)
        set(GGML_CPU_ALL_VARIANTS OFF CACHE BOOL "" FORCE)
    endif()
    # No AMX, ever: ggml's AMX kernels crash on many AMX machines (SIGSEGV in ggml_backend_amx_mul_mat, or
    # SIGILL: worker threads run tile instructions without the kernel's XTILEDATA permission; upstream llama.cpp
    # #20824). ggml compiles them whenever the compiler targets AMX, which -march=native does on an AMX host, so
    # the AMX options are off and, below, the compiler is told the CPU has no AMX. CPU repacking for other
    # instruction sets stays available (mona --cpu-repack on).
    if(MONA_CUDA)
        set(GGML_CUDA ON CACHE BOOL "" FORCE)
        if(NOT CMAKE_CUDA_ARCHITECTURES)
            set(_mona_cuda_arch 90)
            find_program(MONA_NVIDIA_SMI nvidia-smi)
            if(MONA_NVIDIA_SMI)
                execute_process(COMMAND ${MONA_NVIDIA_SMI} --query-gpu=compute_cap --format=csv,noheader
                                OUTPUT_VARIABLE _mona_cap RESULT_VARIABLE _mona_rc ERROR_QUIET)
                string(REGEX MATCH "^[0-9]+\\.[0-9]+" _mona_cap "${_mona_cap}")
                if(_mona_rc EQUAL 0 AND _mona_cap)
                    string(REPLACE "." "" _mona_cuda_arch "${_mona_cap}")
                endif()
            endif()
            set(CMAKE_CUDA_ARCHITECTURES ${_mona_cuda_arch} CACHE STRING "CUDA architectures (MONA_CUDA)" FORCE)
        endif()
        message(STATUS "mona: CUDA backend for architectures ${CMAKE_CUDA_ARCHITECTURES}")
    else()
        set(GGML_CUDA OFF CACHE BOOL "" FORCE)
    endif()
    set(GGML_RPC ${MONA_RPC} CACHE BOOL "" FORCE)
    foreach(amx GGML_AMX_TILE GGML_AMX_INT8 GGML_AMX_BF16)
        set(${amx} OFF CACHE BOOL "" FORCE)
    endforeach()
    # MONA_SANITIZE reaches llama.cpp through its own options (unless MONA_SANITIZE_LLAMA=OFF: then llama.cpp is
    # built exactly as in a normal build, so a compiler cache reuses its objects); UBSan's no-recover flag is
    # added around it.
    set(_mona_llama_sanitizers "")
    if(MONA_SANITIZE_LLAMA)
        set(_mona_llama_sanitizers ${MONA_SANITIZERS})
    endif()
    foreach(san IN ITEMS address undefined)
        string(TOUPPER ${san} SAN)
        if(san IN_LIST _mona_llama_sanitizers)
            set(GGML_SANITIZE_${SAN} ON CACHE BOOL "" FORCE)
            set(LLAMA_SANITIZE_${SAN} ON CACHE BOOL "" FORCE)
        else()
            set(GGML_SANITIZE_${SAN} OFF CACHE BOOL "" FORCE)
            set(LLAMA_SANITIZE_${SAN} OFF CACHE BOOL "" FORCE)
        endif()
    endforeach()
    if("undefined" IN_LIST _mona_llama_sanitizers)
        get_directory_property(_mona_saved_compile_options COMPILE_OPTIONS)
        add_compile_options(-fno-sanitize-recover=undefined)
    endif()
    add_subdirectory(${MONA_LLAMA_SOURCE_DIR} ${CMAKE_BINARY_DIR}/llama.cpp EXCLUDE_FROM_ALL)
    unset(BUILD_SHARED_LIBS)
    if("undefined" IN_LIST _mona_llama_sanitizers)
        set_directory_properties(PROPERTIES COMPILE_OPTIONS "${_mona_saved_compile_options}")
    endif()
    if(TARGET ggml-cpu AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i.86)$"
       AND CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(ggml-cpu PRIVATE -mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
    endif()
    set(MONA_LLAMA_TARGETS llama ggml)
    set(MONA_LLAMA_FROM "vendored")
    if(MONA_RPC)
        add_executable(mona-rpc-server ${MONA_LLAMA_SOURCE_DIR}/tools/rpc/rpc-server.cpp)
        target_link_libraries(mona-rpc-server PRIVATE ggml)
        target_compile_features(mona-rpc-server PRIVATE cxx_std_17)
    endif()
endif()

if(MONA_LLAMA_FROM STREQUAL "vendored" AND EXISTS "${MONA_LLAMA_SOURCE_DIR}.version")
    file(READ "${MONA_LLAMA_SOURCE_DIR}.version" MONA_LLAMA_PIN)
    string(STRIP "${MONA_LLAMA_PIN}" MONA_LLAMA_PIN)
    set(MONA_LLAMA_VERSION "llama.cpp vendored in llama-cpp-python ${MONA_LLAMA_PIN}")
else()
    set(MONA_LLAMA_VERSION "llama.cpp (${MONA_LLAMA_FROM})")
endif()

set(MONA_LLAMA_COMMON_DIR "${MONA_LLAMA_SOURCE_DIR}/common")
if(NOT EXISTS "${MONA_LLAMA_COMMON_DIR}/jinja/runtime.cpp")
    message(FATAL_ERROR "llama.cpp's Jinja engine not found at ${MONA_LLAMA_COMMON_DIR}/jinja: mona renders chat "
                        "templates with it; run scripts/fetch_llama.sh or set MONA_LLAMA_SOURCE_DIR")
endif()
add_library(mona_llama_jinja STATIC
    ${MONA_LLAMA_COMMON_DIR}/jinja/lexer.cpp
    ${MONA_LLAMA_COMMON_DIR}/jinja/parser.cpp
    ${MONA_LLAMA_COMMON_DIR}/jinja/runtime.cpp
    ${MONA_LLAMA_COMMON_DIR}/jinja/value.cpp
    ${MONA_LLAMA_COMMON_DIR}/jinja/string.cpp
    ${MONA_LLAMA_COMMON_DIR}/json.cpp
    ${MONA_LLAMA_COMMON_DIR}/unicode.cpp)
# common/jinja includes "json.h", "unicode.h" (common/) and <nlohmann/json.hpp> (llama.cpp's vendor/ copy; its
# versioned inline namespace keeps it apart from the Debian copy mona uses).
target_include_directories(mona_llama_jinja PUBLIC ${MONA_LLAMA_COMMON_DIR}
                           PRIVATE ${MONA_LLAMA_SOURCE_DIR}/vendor)
target_compile_features(mona_llama_jinja PUBLIC cxx_std_17)
target_link_libraries(mona_llama_jinja PRIVATE ${MONA_LLAMA_TARGETS})  # json.cpp: GGML_ASSERT
set_target_properties(mona_llama_jinja PROPERTIES POSITION_INDEPENDENT_CODE ON)
list(APPEND MONA_LLAMA_TARGETS mona_llama_jinja)
