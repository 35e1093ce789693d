"""Benchmarks (``make bench``): figures printed against their targets, never asserted."""
