"""Benchmarks: measured, never asserted. Results land in bench/results/."""
