"""Pionex (spot), a native adapter of its REST API: ccxt 4.5 has no Pionex."""
