"""Reconciliation with the venue's truth: at the monitor's start and on a schedule, per venue,
the positions (swaps), balances (spot, the base assets signalgate trades) and open orders against
the open brackets. Orders with signalgate's client order id that no bracket owns are cancelled;
what the book cannot explain is a drift incident (`app.domain.reconciliation`), and a venue that
holds less than the brackets has them sized down to it (`drift`)."""
