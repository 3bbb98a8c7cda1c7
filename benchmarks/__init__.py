"""Speed, memory and equivariance-error benchmarks of gdl (see benchmarks/README.md)."""
