"""Brackets after the entry: the driver that places and cancels legs, and the monitor."""
