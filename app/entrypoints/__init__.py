"""The edges: decode input, call one service, encode the answer."""
