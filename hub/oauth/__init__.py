"""Connecting an integration through the user's browser: the OAuth flow, its state, connect tokens."""
