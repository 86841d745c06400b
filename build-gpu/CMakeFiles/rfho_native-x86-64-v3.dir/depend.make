# Empty dependencies file for rfho_native-x86-64-v3.
# This may be replaced when dependencies are built.
