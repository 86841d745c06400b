file(REMOVE_RECURSE
  "/work/main/build/Release/rfho_xent_rows_test"
  "/work/main/build/Release/rfho_xent_rows_test.pdb"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/blas.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/blas.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/blas_runtime.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/blas_runtime.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/elementwise.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/elementwise.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/indexing.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/indexing.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/linear_xent.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/linear_xent.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/linear_xent_panels.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/linear_xent_panels.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/memory.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/memory.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/packed_gemm.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/packed_gemm.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/random.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/random.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/reduce.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/reduce.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/skinny_gemm.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/skinny_gemm.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/softmax_xent.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/softmax_xent.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/sparse_data.cc.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/src/cpu/sparse_data.cc.o.d"
  "CMakeFiles/rfho_xent_rows_test.dir/native/test/xent_rows_test.cu.o"
  "CMakeFiles/rfho_xent_rows_test.dir/native/test/xent_rows_test.cu.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang CUDA CXX)
  include(CMakeFiles/rfho_xent_rows_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
