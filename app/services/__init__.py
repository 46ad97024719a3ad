"""Use cases over ports; adapters arrive as arguments from bootstrap."""
