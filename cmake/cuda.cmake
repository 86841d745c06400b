# CUDA backend selection. RFHO_CUDA=AUTO builds it when nvcc and cuBLAS are found, OFF never,
# ON fails the configure step when they are missing.
set(RFHO_CUDA_ENABLED OFF)
if(NOT RFHO_CUDA STREQUAL "OFF")
  message(STATUS "rfho: CUDA backend not yet implemented in this version; building CPU only")
endif()
list(APPEND RFHO_SOURCES native/src/cuda/no_cuda.cc)
function(rfho_link_cuda target)
endfunction()
