
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/native/src/addon.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/addon.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/addon.cc.o.d"
  "/work/main/native/src/bindings/args.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/args.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/args.cc.o.d"
  "/work/main/native/src/bindings/kernels.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/kernels.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/kernels.cc.o.d"
  "/work/main/native/src/bindings/memory.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/memory.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/memory.cc.o.d"
  "/work/main/native/src/bindings/threads.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/threads.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/bindings/threads.cc.o.d"
  "/work/main/native/src/cpu/blas.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/blas.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/blas.cc.o.d"
  "/work/main/native/src/cpu/blas_runtime.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/blas_runtime.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/blas_runtime.cc.o.d"
  "/work/main/native/src/cpu/elementwise.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/elementwise.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/elementwise.cc.o.d"
  "/work/main/native/src/cpu/indexing.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/indexing.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/indexing.cc.o.d"
  "/work/main/native/src/cpu/linear_xent.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/linear_xent.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/linear_xent.cc.o.d"
  "/work/main/native/src/cpu/linear_xent_panels.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/linear_xent_panels.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/linear_xent_panels.cc.o.d"
  "/work/main/native/src/cpu/memory.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/memory.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/memory.cc.o.d"
  "/work/main/native/src/cpu/packed_gemm.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/packed_gemm.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/packed_gemm.cc.o.d"
  "/work/main/native/src/cpu/random.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/random.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/random.cc.o.d"
  "/work/main/native/src/cpu/reduce.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/reduce.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/reduce.cc.o.d"
  "/work/main/native/src/cpu/skinny_gemm.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/skinny_gemm.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/skinny_gemm.cc.o.d"
  "/work/main/native/src/cpu/softmax_xent.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/softmax_xent.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/softmax_xent.cc.o.d"
  "/work/main/native/src/cpu/sparse_data.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/sparse_data.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cpu/sparse_data.cc.o.d"
  "/work/main/native/src/cuda/loader.cc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cuda/loader.cc.o" "gcc" "CMakeFiles/rfho_native-x86-64-v3.dir/native/src/cuda/loader.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
