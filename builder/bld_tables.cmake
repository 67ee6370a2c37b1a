# builder/bld_tables.cmake: the --tables source of typeahead-build (bld_tables.c, from the
# aggregator's part). Included after bld.cmake (sorted glob), so ta_bld exists here.
target_sources(ta_bld PRIVATE ${CMAKE_CURRENT_LIST_DIR}/bld_tables.c)
target_link_libraries(ta_bld PUBLIC ta_agg)
