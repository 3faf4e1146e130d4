"""What is measured: the Harbor task format, built-in suites, performance benchmarks."""
