"""Speed and memory benchmarks of gdl (see benchmarks/README.md)."""
