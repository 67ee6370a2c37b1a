# filters/flt.cmake: the blocklist filter layer (library ta_flt, SPEC §9) and its bench driver.
# The confusables table (UTS #39 skeletons) is generated at build time from ICU's data by
# flt-skelgen; ICU is needed to build, not to run.
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET GLOBAL icu-uc icu-i18n)
add_executable(flt-skelgen flt_skelgen_main.c)
target_include_directories(flt-skelgen PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(flt-skelgen PRIVATE ta_trie PkgConfig::ICU PkgConfig::UTF8PROC)
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/flt_skel_table.c
  COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
          $<TARGET_FILE:flt-skelgen> ${CMAKE_CURRENT_BINARY_DIR}/flt_skel_table.c
  DEPENDS flt-skelgen
  COMMENT "Generating the confusables table from ICU (flt-skelgen)")

file(GLOB TA_FLT_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/flt*.c)
list(FILTER TA_FLT_SOURCES EXCLUDE REGEX ".*_main\\.c$")
add_library(ta_flt STATIC ${TA_FLT_SOURCES} ${CMAKE_CURRENT_BINARY_DIR}/flt_skel_table.c)
target_include_directories(ta_flt PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ta_flt PUBLIC ta_trie PkgConfig::UTF8PROC)
# flt-bench: the in-process lookup benchmark that tests/bench/bench-filters runs (not installed).
add_executable(flt-bench flt_bench_main.c)
target_link_libraries(flt-bench PRIVATE ta_flt ta_trie)
