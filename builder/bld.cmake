# builder/bld: the builder library (ta_bld: accumulator, --freq reader, atomic verified write)
# and the tool typeahead-build. Other builder parts (agg.cmake) register their own targets.
add_library(ta_bld STATIC
  ${CMAKE_CURRENT_LIST_DIR}/bld_acc.c
  ${CMAKE_CURRENT_LIST_DIR}/bld_freq.c
  ${CMAKE_CURRENT_LIST_DIR}/bld_write.c)
target_include_directories(ta_bld PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(ta_bld PUBLIC ta_trie m)
# In the libFuzzer build, instrument the library too (tests/fuzz/fuzz_freq.c needs coverage
# feedback from the reader and the accumulator, not only from the target's own file).
if(TA_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(ta_bld PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(ta_bld INTERFACE -fsanitize=address,undefined)
endif()

add_executable(typeahead-build ${CMAKE_CURRENT_LIST_DIR}/build_main.c)
target_link_libraries(typeahead-build PRIVATE ta_bld ta_flt)
