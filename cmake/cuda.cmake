# CUDA backend selection. RFHO_CUDA=AUTO builds it when nvcc and cuBLAS are found, OFF never, ON
# fails the configure step when they are missing. The backend is a separate shared library
# (rfho_cuda.so) that the addon dlopens on first use: see native/src/cuda/loader.cc.
#
# cuBLAS is looked for in the CUDA toolkit, in RFHO_CUBLAS_ROOT, and in .cuda-deps (where
# scripts/fetch-cublas.sh unpacks the `nvidia-cublas` wheel's headers and library).
set(RFHO_CUDA_ENABLED OFF)
set(RFHO_CUDA_REASON "")
if(NOT RFHO_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  set(_cublas_hints $ENV{RFHO_CUBLAS_ROOT} ${RFHO_CUBLAS_ROOT} ${CMAKE_SOURCE_DIR}/.cuda-deps/nvidia/cu13
      ${CMAKE_SOURCE_DIR}/.cuda-deps/nvidia/cu12 /usr/local/cuda /usr/local/cuda/targets/x86_64-linux)
  find_path(CUBLAS_INCLUDE_DIR cublas_v2.h HINTS ${_cublas_hints} PATH_SUFFIXES include)
  find_library(CUBLAS_LIBRARY NAMES cublas libcublas.so.13 libcublas.so.12 HINTS ${_cublas_hints} PATH_SUFFIXES lib lib64)
  if(NOT CMAKE_CUDA_COMPILER)
    set(RFHO_CUDA_REASON "no CUDA compiler (nvcc) found")
  elseif(NOT CUBLAS_INCLUDE_DIR OR NOT CUBLAS_LIBRARY)
    set(RFHO_CUDA_REASON "cuBLAS not found (install the CUDA toolkit's cuBLAS, or run scripts/fetch-cublas.sh)")
  else()
    set(RFHO_CUDA_ENABLED ON)
  endif()
  if(NOT RFHO_CUDA_ENABLED AND RFHO_CUDA STREQUAL "ON")
    message(FATAL_ERROR "rfho: RFHO_CUDA=ON but ${RFHO_CUDA_REASON}")
  endif()
endif()

if(RFHO_CUDA_ENABLED)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)  # A100, H100/H200
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "rfho: building the CUDA backend (architectures ${CMAKE_CUDA_ARCHITECTURES}, cuBLAS ${CUBLAS_LIBRARY})")
  add_library(rfho_cuda SHARED native/src/cuda/cuda_backend.cu native/src/cuda/blas.cu native/src/cuda/elementwise.cu
              native/src/cuda/reduce.cu native/src/cuda/xent.cu native/src/cuda/indexing.cu native/src/cuda/random.cu)
  set_target_properties(rfho_cuda PROPERTIES PREFIX "" SUFFIX ".so" CUDA_STANDARD 17 CUDA_SEPARABLE_COMPILATION OFF
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/Release BUILD_RPATH "$ORIGIN;$<TARGET_FILE_DIR:rfho_cuda>;${CMAKE_SOURCE_DIR}/.cuda-deps/nvidia/cu13/lib"
    INSTALL_RPATH "$ORIGIN")
  target_include_directories(rfho_cuda PRIVATE ${CUBLAS_INCLUDE_DIR})
  target_compile_options(rfho_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 --expt-relaxed-constexpr -Xcompiler=-fvisibility=hidden>)
  # The runtime is linked statically: the library then needs only the driver and cuBLAS at load time.
  target_link_libraries(rfho_cuda PRIVATE CUDA::cudart_static ${CUBLAS_LIBRARY})
  list(APPEND RFHO_SOURCES native/src/cuda/loader.cc)
  # The kernels' row arithmetic (cuda/xent_rows.h) through nvcc, run on the host against the CPU
  # backend (native/test/xent_rows_test.cu; run by the tests where it was built).
  set(RFHO_CUDA_HOST_TEST ON)
else()
  if(NOT RFHO_CUDA STREQUAL "OFF")
    message(STATUS "rfho: CUDA backend skipped: ${RFHO_CUDA_REASON}")
  endif()
  list(APPEND RFHO_SOURCES native/src/cuda/no_cuda.cc)
endif()

function(rfho_link_cuda target)
  if(RFHO_CUDA_ENABLED)
    target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
    add_dependencies(${target} rfho_cuda)
  endif()
endfunction()
