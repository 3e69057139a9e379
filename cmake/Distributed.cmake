# torch.distributed's c10d from the wheel's libtorch: its Gloo process group is compiled in, but
# the wheel ships no gloo headers, so ProcessGroupGloo.hpp takes them from Debian's libgloo-dev
# (src/dist/world.cpp keeps to c10d's out-of-line API for that reason). NCCL's header comes from
# the nvidia-nccl wheel torch depends on, for CUDA builds.
find_path(TTTMEM_GLOO_INCLUDE gloo/algorithm.h)
if(NOT TTTMEM_GLOO_INCLUDE)
  message(FATAL_ERROR "gloo headers not found: install the Debian package libgloo-dev "
                      "(scripts/setup.sh does)")
endif()
set(_dist_sources ${CMAKE_SOURCE_DIR}/src/dist/world.cpp)
set(_dist_definitions USE_C10D_GLOO)
if(TTTMEM_WITH_CUDA)
  execute_process(
    COMMAND "${TTTMEM_PYTHON}" -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'include'))"
    OUTPUT_VARIABLE _nccl_include RESULT_VARIABLE _nccl_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_nccl_rc EQUAL 0 AND EXISTS "${_nccl_include}/nccl.h")
    list(APPEND _dist_definitions USE_C10D_NCCL TTTMEM_HAVE_NCCL)
    set_property(SOURCE ${_dist_sources} APPEND PROPERTY INCLUDE_DIRECTORIES "${_nccl_include}")
    message(STATUS "tttmem: NCCL process group (nccl.h from ${_nccl_include})")
  else()
    message(STATUS "tttmem: no nccl.h in the venv; CUDA ranks talk through Gloo")
  endif()
endif()
set_property(SOURCE ${_dist_sources} APPEND PROPERTY COMPILE_DEFINITIONS ${_dist_definitions})
set_property(SOURCE ${_dist_sources} PROPERTY SKIP_PRECOMPILE_HEADERS ON)
