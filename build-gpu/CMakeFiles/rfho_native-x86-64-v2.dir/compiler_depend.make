# Empty compiler generated dependencies file for rfho_native-x86-64-v2.
# This may be replaced when dependencies are built.
