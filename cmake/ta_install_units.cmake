# Install-time part of cmake/TaInstall.cmake: renders the systemd units for the prefix being
# installed to (@BINDIR@, @LIBDIR@) and puts them, the config file and the state directories in
# place under $DESTDIR (file(INSTALL) adds DESTDIR itself; the other commands need it). Runs inside cmake_install.cmake, where CMAKE_INSTALL_PREFIX is the
# prefix of this install (--prefix); TA_SOURCE_DIR and TA_BINARY_DIR are the trees.
set(prefix "${CMAKE_INSTALL_PREFIX}")
set(BINDIR "${prefix}/bin")
set(LIBDIR "${prefix}/lib")
if(DEFINED ENV{UNITDIR} AND NOT "$ENV{UNITDIR}" STREQUAL "")
  set(unitdir "$ENV{UNITDIR}")
else()
  set(unitdir "${prefix}/lib/systemd/system")
endif()
set(dest "$ENV{DESTDIR}")
set(work "${TA_BINARY_DIR}/ta-install")

set(rw OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
foreach(unit typeahead.service typeahead-nightly.service typeahead-nightly.timer
             typeahead-trending.service typeahead-trending.timer)
  configure_file("${TA_SOURCE_DIR}/deploy/${unit}" "${work}/${unit}" @ONLY)
  file(INSTALL "${work}/${unit}" DESTINATION "${unitdir}" FILE_PERMISSIONS ${rw})
endforeach()
file(INSTALL "${TA_SOURCE_DIR}/deploy/sysusers.conf" DESTINATION "${LIBDIR}/sysusers.d"
     RENAME typeahead.conf FILE_PERMISSIONS ${rw})
file(INSTALL "${TA_SOURCE_DIR}/deploy/tmpfiles.conf" DESTINATION "${LIBDIR}/tmpfiles.d"
     RENAME typeahead.conf FILE_PERMISSIONS ${rw})

if(EXISTS "${dest}/etc/default/typeahead")
  message(STATUS "Kept: ${dest}/etc/default/typeahead (the shipped one is "
                 "${TA_SOURCE_DIR}/deploy/default/typeahead)")
else()
  file(INSTALL "${TA_SOURCE_DIR}/deploy/default/typeahead" DESTINATION /etc/default
       FILE_PERMISSIONS ${rw})
endif()

# Owned by root here; the typeahead user (sysusers.d, or the package's postinst) gets them
# through tmpfiles.d, the postinst, or the units' StateDirectory=.
foreach(dir /var/lib/typeahead /var/spool/typeahead)
  message(STATUS "Installing: ${dest}${dir}/")
  file(MAKE_DIRECTORY "${dest}${dir}")
endforeach()
