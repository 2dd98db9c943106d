"""Stored provider events: how they are written, read, checked and pruned."""
