"""The strategy engine and the arbitrage scanner: signals of our own, through the intake."""
