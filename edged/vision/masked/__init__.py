"""Masked faces: synthetic masks for benchmarks, and the recognition path taken by masked probes."""
