"""Benchmarks of the suite (``make bench``, ``make bench-scale``) and VLFeat as the reference."""
