# builder/bld: the builder library (ta_bld: accumulator, --freq reader, atomic verified write)
# and the tool typeahead-build. Other builder parts (agg.cmake) register their own targets.
add_library(ta_bld STATIC
  ${CMAKE_CURRENT_LIST_DIR}/bld_acc.c
  ${CMAKE_CURRENT_LIST_DIR}/bld_freq.c
  ${CMAKE_CURRENT_LIST_DIR}/bld_write.c)
target_include_directories(ta_bld PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(ta_bld PUBLIC ta_trie m)

add_executable(typeahead-build ${CMAKE_CURRENT_LIST_DIR}/build_main.c)
target_link_libraries(typeahead-build PRIVATE ta_bld)
