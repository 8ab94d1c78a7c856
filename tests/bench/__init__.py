"""Benchmarks: `make bench` (not part of `make test`). Each measures appctl and its reference in the same run."""
