"""Speed, memory and equivariance-error benchmarks of gdl (see README.md)."""
