"""Redis: the inbox, locks, ticks, and the embedded server."""
