"""Execution of queued signals: risk gate, sizing, routing, the entry and its bracket."""
