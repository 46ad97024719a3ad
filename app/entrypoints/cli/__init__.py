"""The command line: `signalgate ...`."""
