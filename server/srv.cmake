# server/srv.cmake: library ta_srv (the query server, SPEC §8) and the tool typeahead-serve.
#
# GET / serves server/demo/index.html (owned by the demo page), embedded at build time: the
# page is turned into a C array by srv_embed.cmake, so a changed page rebuilds the server.
set(TA_DEMO_HTML ${CMAKE_CURRENT_SOURCE_DIR}/demo/index.html)
set(TA_DEMO_C ${CMAKE_CURRENT_BINARY_DIR}/srv_demo_html.c)
set(TA_DEMO_DEPS ${CMAKE_CURRENT_SOURCE_DIR}/srv_embed.cmake)
if(EXISTS ${TA_DEMO_HTML})
  list(APPEND TA_DEMO_DEPS ${TA_DEMO_HTML})
endif()
add_custom_command(
  OUTPUT ${TA_DEMO_C}
  COMMAND ${CMAKE_COMMAND} -DIN=${TA_DEMO_HTML} -DOUT=${TA_DEMO_C} -DNAME=srv_demo_html
          -P ${CMAKE_CURRENT_SOURCE_DIR}/srv_embed.cmake
  DEPENDS ${TA_DEMO_DEPS}
  COMMENT "Embedding the demo page"
  VERBATIM)

file(GLOB TA_SRV_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/srv_*.c)
add_library(ta_srv STATIC ${TA_SRV_SOURCES} ${TA_DEMO_C})
target_include_directories(ta_srv PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ta_srv PUBLIC ta_flt ta_trie PkgConfig::EVHTP PkgConfig::LIBEVENT
                      PkgConfig::MSGPACK Threads::Threads m)

add_executable(typeahead-serve ${CMAKE_CURRENT_SOURCE_DIR}/serve_main.c)
target_link_libraries(typeahead-serve PRIVATE ta_srv)

# libFuzzer learns only from instrumented code: under TA_FUZZ the library gets the coverage
# instrumentation too (tests/fuzz/fuzz_request.c drives srv_query.c and srv_render.c).
if(TA_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(ta_srv PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(ta_srv INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
endif()
