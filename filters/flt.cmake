# filters/flt.cmake: the blocklist filter layer (library ta_flt, SPEC §9) and its bench driver.
file(GLOB TA_FLT_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/flt*.c)
list(FILTER TA_FLT_SOURCES EXCLUDE REGEX ".*_main\\.c$")
add_library(ta_flt STATIC ${TA_FLT_SOURCES})
target_include_directories(ta_flt PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ta_flt PUBLIC ta_trie PkgConfig::UTF8PROC)
# libFuzzer learns only from instrumented code: under TA_FUZZ the library gets the coverage
# instrumentation too (the fuzz executables themselves are set up by cmake/TaFuzz.cmake).
if(TA_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(ta_flt PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(ta_flt INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
endif()
# flt-bench: the in-process lookup benchmark that tests/bench/bench-filters runs (not installed).
add_executable(flt-bench flt_bench_main.c)
target_link_libraries(flt-bench PRIVATE ta_flt ta_trie)
