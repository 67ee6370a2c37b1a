# make install and make deb (SPEC §14): the install rules of the whole tree, in one place.
#
#   PREFIX/bin/typeahead-{aggregate,build,query,serve}    the four tools
#   PREFIX/share/man/man1/typeahead-*.1                   their man pages (help2man, from --help)
#   PREFIX/lib/typeahead/typeahead-{nightly,trending}     the nightly and trending jobs (deploy/)
#   UNITDIR/typeahead.service, typeahead-{nightly,trending}.{service,timer}  (UNITDIR: the environment's
#                                                         UNITDIR, else PREFIX/lib/systemd/system)
#   PREFIX/lib/sysusers.d/typeahead.conf                  the typeahead system user
#   PREFIX/lib/tmpfiles.d/typeahead.conf                  /var/lib/typeahead, /var/spool/typeahead
#   /etc/default/typeahead                                read by both units (an existing one is
#                                                         kept: it holds the operator's settings)
#   /var/lib/typeahead, /var/spool/typeahead              the state and the log spool
#
# /etc and /var are absolute whatever PREFIX is: the units name them. The units are rendered at
# install time (cmake/ta_install_units.cmake), so `cmake --install --prefix P` names P's tools.
set(TA_TOOLS typeahead-aggregate typeahead-build typeahead-query typeahead-serve)
install(TARGETS ${TA_TOOLS} RUNTIME DESTINATION bin)
install(PROGRAMS ${CMAKE_SOURCE_DIR}/deploy/typeahead-nightly ${CMAKE_SOURCE_DIR}/deploy/typeahead-trending
        DESTINATION lib/typeahead)

# Man pages from each tool's --help and --version, so they cannot drift from the tools. help2man
# runs the tool through cmake/ta_man_help.sh, which puts its wrapped usage forms in the shape
# help2man reads a SYNOPSIS from.
find_program(TA_HELP2MAN help2man)
if(TA_HELP2MAN)
  set(TA_MAN_aggregate "count query logs into weekly frequency tables")
  set(TA_MAN_build "build a top-k completion trie from week tables or frequency lists")
  set(TA_MAN_query "look into a typeahead trie file")
  set(TA_MAN_serve "serve search-as-you-type suggestions over HTTP")
  set(TA_MAN_PAGES)
  foreach(tool ${TA_TOOLS})
    string(REPLACE "typeahead-" "" short ${tool})
    set(page ${CMAKE_BINARY_DIR}/man/${tool}.1)
    add_custom_command(
      OUTPUT ${page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND ${CMAKE_COMMAND} -E env TA_MAN_TOOL=$<TARGET_FILE:${tool}>
              ${TA_HELP2MAN} --no-info --section=1 --name=${TA_MAN_${short}} --output=${page}
              ${CMAKE_SOURCE_DIR}/cmake/ta_man_help.sh
      DEPENDS ${tool} ${CMAKE_SOURCE_DIR}/cmake/ta_man_help.sh
      COMMENT "Man page of ${tool}"
      VERBATIM)
    list(APPEND TA_MAN_PAGES ${page})
  endforeach()
  add_custom_target(man ALL DEPENDS ${TA_MAN_PAGES})
  install(FILES ${TA_MAN_PAGES} DESTINATION share/man/man1)
else()
  message(WARNING "help2man not found: no man pages (deploy/install-deps build installs it)")
endif()

install(CODE "set(TA_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")\nset(TA_BINARY_DIR \"${CMAKE_BINARY_DIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/ta_install_units.cmake)
