file(REMOVE_RECURSE
  "/work/main/build/Release/rfho_sparse_guard"
  "/work/main/build/Release/rfho_sparse_guard.pdb"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas.cc.o"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas.cc.o.d"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas_runtime.cc.o"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas_runtime.cc.o.d"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/packed_gemm.cc.o"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/packed_gemm.cc.o.d"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/skinny_gemm.cc.o"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/skinny_gemm.cc.o.d"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/sparse_data.cc.o"
  "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/sparse_data.cc.o.d"
  "CMakeFiles/rfho_sparse_guard.dir/native/test/sparse_guard.cc.o"
  "CMakeFiles/rfho_sparse_guard.dir/native/test/sparse_guard.cc.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/rfho_sparse_guard.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
