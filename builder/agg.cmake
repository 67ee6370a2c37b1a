# builder/agg.cmake: the aggregator (issue 3): library ta_agg and the tool typeahead-aggregate.
add_library(ta_agg STATIC
  ${CMAKE_CURRENT_LIST_DIR}/agg_week.c
  ${CMAKE_CURRENT_LIST_DIR}/agg_parse.c
  ${CMAKE_CURRENT_LIST_DIR}/agg_count.c
  ${CMAKE_CURRENT_LIST_DIR}/agg_ingest.c
  ${CMAKE_CURRENT_LIST_DIR}/agg_table.c
  ${CMAKE_CURRENT_LIST_DIR}/agg_run.c)
target_include_directories(ta_agg PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(ta_agg PUBLIC ta_trie Threads::Threads PRIVATE PkgConfig::MSGPACK PkgConfig::ZLIB
                      PkgConfig::OPENSSL)
add_executable(typeahead-aggregate ${CMAKE_CURRENT_LIST_DIR}/aggregate_main.c)
target_link_libraries(typeahead-aggregate PRIVATE ta_agg)
# With make fuzz, instrument the library too, so libFuzzer sees coverage inside it.
if(TA_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(ta_agg PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
endif()
