# CMAKE generated file: DO NOT EDIT!
# Timestamp file for compiler generated dependencies management for rfho_native-x86-64-v4.
