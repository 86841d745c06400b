# Empty dependencies file for rfho_xent_rows_test.
# This may be replaced when dependencies are built.
