"""Brackets: an entry with take-profit and stop-loss legs kept one-cancels-the-other.

``bracket`` holds the value and its updates, ``planner`` the actions that keep the position
protected, ``pnl`` what a bracket made.
"""
