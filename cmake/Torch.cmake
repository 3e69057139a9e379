# libtorch comes from the pip torch wheel in the project venv, so the C++ side and the Python
# oracles use the very same build of torch.
if(NOT EXISTS "${TTTMEM_PYTHON}")
  message(FATAL_ERROR "TTTMEM_PYTHON=${TTTMEM_PYTHON} does not exist: run scripts/setup.sh first "
                      "(it creates .venv with the pinned torch wheel)")
endif()
execute_process(
  COMMAND "${TTTMEM_PYTHON}" -c "import torch; print(torch.utils.cmake_prefix_path); print(int(torch.backends.cuda.is_built()))"
  OUTPUT_VARIABLE _torch_out RESULT_VARIABLE _torch_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR "${TTTMEM_PYTHON} cannot import torch: run scripts/setup.sh")
endif()
string(REPLACE "\n" ";" _torch_out "${_torch_out}")
list(GET _torch_out 0 TTTMEM_TORCH_PREFIX)
list(GET _torch_out 1 TTTMEM_TORCH_HAS_CUDA)
list(APPEND CMAKE_PREFIX_PATH "${TTTMEM_TORCH_PREFIX}")

# A CUDA-enabled libtorch needs the toolkit to configure. Limit the architectures torch's own
# cmake probes for; our kernels pick theirs in cmake/Cuda.cmake.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST)
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()
find_package(Torch REQUIRED)

add_library(tttmem_torch_iface INTERFACE)
target_link_libraries(tttmem_torch_iface INTERFACE ${TORCH_LIBRARIES})
# The wheel's libtorch.so exports its own std::filesystem symbols, and some (remove_all) crash
# when called from our code; listing libstdc++ before libtorch makes the dynamic linker bind
# std:: symbols to the system library.
target_link_options(tttmem_torch_iface INTERFACE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")
target_include_directories(tttmem_torch_iface SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
# TORCH_CXX_FLAGS carries the C++ ABI define the wheel was built with.
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(tttmem_torch_iface INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_torch_flags}>)
add_library(tttmem::torch ALIAS tttmem_torch_iface)
