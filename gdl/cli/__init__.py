"""Command-line entry points (the only code in gdl that knows Hydra)."""
