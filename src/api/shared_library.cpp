// The installed shared library (CMake target mona_lib, libmona.so) is the static archives mona_core and
// mona_base linked in whole; CMake needs one source of the target's own, and this is it.
