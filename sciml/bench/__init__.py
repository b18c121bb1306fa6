"""Benchmarks behind ``sciml bench NAME``; each returns a :class:`~sciml.bench.report.BenchReport`."""
