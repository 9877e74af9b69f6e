# Part of `cmake --install` (packaging/CMakeLists.txt): write
# sshgated.service for the prefix being installed to. Expects
# SSHGATE_UNIT_IN, SSHGATE_UNIT_OUT, SSHGATE_CONFIG_FILE and the install
# directories SSHGATE_SBINDIR and SSHGATE_DOCDIR (relative to the prefix,
# or absolute).
foreach(dir SSHGATE_SBINDIR SSHGATE_DOCDIR)
    if(NOT IS_ABSOLUTE "${${dir}}")
        set(${dir} "${CMAKE_INSTALL_PREFIX}/${${dir}}")
    endif()
endforeach()
configure_file("${SSHGATE_UNIT_IN}" "${SSHGATE_UNIT_OUT}" @ONLY)
