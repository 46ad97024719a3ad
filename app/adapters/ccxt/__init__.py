"""Venues through ccxt."""
