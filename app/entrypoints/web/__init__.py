"""The HTTP edge (Litestar)."""
