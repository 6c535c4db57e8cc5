"""Test support shared by the tests and the benchmarks: corpora, doubles, helpers."""
