
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/native/src/cpu/blas.cc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas.cc.o" "gcc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas.cc.o.d"
  "/work/main/native/src/cpu/blas_runtime.cc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas_runtime.cc.o" "gcc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/blas_runtime.cc.o.d"
  "/work/main/native/src/cpu/packed_gemm.cc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/packed_gemm.cc.o" "gcc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/packed_gemm.cc.o.d"
  "/work/main/native/src/cpu/skinny_gemm.cc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/skinny_gemm.cc.o" "gcc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/skinny_gemm.cc.o.d"
  "/work/main/native/src/cpu/sparse_data.cc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/sparse_data.cc.o" "gcc" "CMakeFiles/rfho_sparse_guard.dir/native/src/cpu/sparse_data.cc.o.d"
  "/work/main/native/test/sparse_guard.cc" "CMakeFiles/rfho_sparse_guard.dir/native/test/sparse_guard.cc.o" "gcc" "CMakeFiles/rfho_sparse_guard.dir/native/test/sparse_guard.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
