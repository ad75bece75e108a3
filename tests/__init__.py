"""The test suite (make test): one folder per part of the program, mirroring its layout."""
