# CUDA kernels: kernels/*.cu are plain CUDA (no torch headers, so nvcc stays quick); their
# libtorch bindings are kernels/*.cpp and are compiled into tttmem_torch either way, guarded by
# TTTMEM_HAVE_CUDA.
set(TTTMEM_WITH_CUDA OFF)
if(NOT TTTMEM_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER AND TTTMEM_TORCH_HAS_CUDA)
    set(TTTMEM_WITH_CUDA ON)
  elseif(TTTMEM_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TTTMEM_CUDA=ON but nvcc (${CMAKE_CUDA_COMPILER}) or a CUDA-enabled "
                        "libtorch (has_cuda=${TTTMEM_TORCH_HAS_CUDA}) is missing")
  endif()
endif()
message(STATUS "tttmem: CUDA kernels ${TTTMEM_WITH_CUDA}")

file(GLOB TTTMEM_CUDA_SOURCES CONFIGURE_DEPENDS kernels/*.cu)
if(TTTMEM_WITH_CUDA AND TTTMEM_CUDA_SOURCES)
  enable_language(CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)  # A100, H100/H200
  endif()
  find_package(CUDAToolkit REQUIRED)
  add_library(tttmem_kernels STATIC ${TTTMEM_CUDA_SOURCES})
  target_include_directories(tttmem_kernels PUBLIC kernels)
  set_target_properties(tttmem_kernels PROPERTIES POSITION_INDEPENDENT_CODE ON
                        CUDA_STANDARD 17 CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
  target_link_libraries(tttmem_kernels PUBLIC CUDA::cudart CUDA::cublas)
  target_link_libraries(tttmem_torch PUBLIC tttmem_kernels)
  target_compile_definitions(tttmem_torch PUBLIC TTTMEM_HAVE_CUDA=1)
endif()
