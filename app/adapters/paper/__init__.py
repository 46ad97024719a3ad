"""The paper venue: its exchange adapter, its host and wire, and its SQL store."""
