"""Wiring, one module per process: the only package that imports both adapters and services."""
