# The installable library: libazstream.so.MAJOR and libazstream.a, both made of the objects
# of the per-concern static libraries (src/*/CMakeLists.txt), which stay what the CLI and
# the tests link (they use private headers); the public headers, azstream.pc and the CMake
# package azstream::azstream; the azstream command. Not built in the libFuzzer build, whose
# objects carry coverage hooks that only a fuzzer binary defines.
if(AZS_FUZZ)
  return()
endif()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(AZS_LIB_PARTS azs_common azs_codec azs_h5 azs_sink azs_arrays azs_geometry azs_integrate
    azs_gpu azs_layout azs_job)
set(AZS_LIB_OBJECTS "")
foreach(t ${AZS_LIB_PARTS})
  list(APPEND AZS_LIB_OBJECTS $<TARGET_OBJECTS:${t}>)
endforeach()

# What those objects need at link time (the parts' own link libraries, minus each other).
set(AZS_LIB_DEPS PkgConfig::LZ4 PkgConfig::CJSON PkgConfig::TIFF ${HDF5_C_LIBRARIES}
    OpenMP::OpenMP_C Threads::Threads m)
if(TARGET azs_stream) # the stream input (optional: libzmq + libcbor)
  list(APPEND AZS_LIB_PARTS azs_stream)
  list(APPEND AZS_LIB_OBJECTS $<TARGET_OBJECTS:azs_stream>)
  list(APPEND AZS_LIB_DEPS PkgConfig::ZMQ PkgConfig::CBOR)
endif()
if(AZS_HAVE_CUDA)
  list(APPEND AZS_LIB_DEPS CUDA::cudart_static)
endif()
if(TARGET MPI::MPI_C AND AZS_HAVE_MPI)
  get_target_property(_azs_layout_libs azs_layout LINK_LIBRARIES)
  if("MPI::MPI_C" IN_LIST _azs_layout_libs)
    list(APPEND AZS_LIB_DEPS MPI::MPI_C)
    set(_azs_lib_mpi ON)
  endif()
endif()

set(_azs_public_includes $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set(_azs_linker C)
if(AZS_HAVE_CUDA)
  set(_azs_linker CUDA)
endif()

add_library(azstream_shared SHARED ${AZS_LIB_OBJECTS})
target_link_libraries(azstream_shared PRIVATE ${AZS_LIB_DEPS})
target_include_directories(azstream_shared INTERFACE ${_azs_public_includes})
# The archives it links (cudart_static, ...) export nothing through it; every dependency
# resolved at link time (not under the sanitizers, whose runtimes the program brings).
target_link_options(azstream_shared PRIVATE "LINKER:--exclude-libs,ALL")
if(NOT AZS_SANITIZE AND NOT AZS_TSAN)
  target_link_options(azstream_shared PRIVATE "LINKER:--no-undefined")
endif()
set_target_properties(azstream_shared PROPERTIES
  OUTPUT_NAME azstream EXPORT_NAME azstream LINKER_LANGUAGE ${_azs_linker}
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
add_library(azstream::azstream ALIAS azstream_shared)

# The same objects as one archive: for programs that link statically (the Python extension
# does: its wheel then needs no libazstream.so beside it).
add_library(azstream_static STATIC ${AZS_LIB_OBJECTS})
target_link_libraries(azstream_static INTERFACE ${AZS_LIB_DEPS})
target_include_directories(azstream_static INTERFACE ${_azs_public_includes})
set_target_properties(azstream_static PROPERTIES OUTPUT_NAME azstream LINKER_LANGUAGE ${_azs_linker}
  ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)

# ---- pkg-config: relocatable (paths relative to the .pc file), so a prefix given at
# install time (cmake --install --prefix) is right too. Libs.private: what linking
# libazstream.a needs (pkg-config --static).
file(RELATIVE_PATH _azs_pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" _azs_pc_to_prefix "${_azs_pc_to_prefix}")
set(AZS_PC_PREFIX "\${pcfiledir}/${_azs_pc_to_prefix}")
set(AZS_PC_REQUIRES_PRIVATE "liblz4 libcjson libtiff-4")
set(_azs_pc_libs "")
# libzmq and libcbor as plain -l: Debian's libzmq.pc pulls norm.pc, whose Libs.private
# ("libprotokit.a", no path) breaks any pkg-config --static link.
if(TARGET azs_stream)
  list(APPEND _azs_pc_libs -lzmq -lcbor)
endif()
foreach(l ${HDF5_C_LIBRARIES})
  if(l MATCHES "^/")
    list(APPEND _azs_pc_libs "${l}")
  elseif(l MATCHES "^-")
    list(APPEND _azs_pc_libs "${l}")
  else()
    list(APPEND _azs_pc_libs "-l${l}")
  endif()
endforeach()
if(_azs_lib_mpi)
  foreach(l ${MPI_C_LIBRARIES})
    list(APPEND _azs_pc_libs "${l}")
  endforeach()
endif()
if(AZS_HAVE_CUDA)
  list(APPEND _azs_pc_libs "-L${CUDAToolkit_LIBRARY_DIR}" -lcudart_static -ldl -lrt -lstdc++)
endif()
list(APPEND _azs_pc_libs ${OpenMP_C_FLAGS} -lpthread -lm)
list(JOIN _azs_pc_libs " " AZS_PC_LIBS_PRIVATE)
configure_file(${PROJECT_SOURCE_DIR}/cmake/azstream.pc.in ${PROJECT_BINARY_DIR}/azstream.pc @ONLY)

# ---- CMake package: find_package(azstream) gives azstream::azstream (the shared library).
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/azstreamConfig.cmake.in
  ${PROJECT_BINARY_DIR}/azstreamConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/azstream)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/azstreamConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)

# ---- install (not into a Python wheel: pip install . takes the component "python" only)
install(TARGETS azstream_shared EXPORT azstreamTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development)
install(TARGETS azstream_static ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS azstream RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/azstream DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/azstream/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/azstream)
install(FILES ${PROJECT_BINARY_DIR}/azstream.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(EXPORT azstreamTargets NAMESPACE azstream::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/azstream)
install(FILES ${PROJECT_BINARY_DIR}/azstreamConfig.cmake
        ${PROJECT_BINARY_DIR}/azstreamConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/azstream)
