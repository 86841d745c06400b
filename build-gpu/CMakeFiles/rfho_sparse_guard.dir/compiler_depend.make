# Empty compiler generated dependencies file for rfho_sparse_guard.
# This may be replaced when dependencies are built.
