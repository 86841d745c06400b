# Empty compiler generated dependencies file for rfho_cuda.
# This may be replaced when dependencies are built.
