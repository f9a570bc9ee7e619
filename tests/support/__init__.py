"""Helpers the tests and benchmarks share."""
