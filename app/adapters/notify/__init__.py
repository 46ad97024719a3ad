"""Notifications: apprise channels, and the RQ jobs that carry events to them."""
