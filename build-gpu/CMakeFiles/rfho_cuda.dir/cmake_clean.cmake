file(REMOVE_RECURSE
  "CMakeFiles/rfho_cuda.dir/native/src/cuda/cuda_backend.cu.o"
  "CMakeFiles/rfho_cuda.dir/native/src/cuda/cuda_backend.cu.o.d"
  "Release/rfho_cuda.pdb"
  "Release/rfho_cuda.so"
)

# Per-language clean rules from dependency scanning.
foreach(lang CUDA)
  include(CMakeFiles/rfho_cuda.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
