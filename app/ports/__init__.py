"""Protocols the services speak to, and the project's own error types."""
