"""Benchmarks: programs that print figures (`make bench`). Tests never assert a time."""
