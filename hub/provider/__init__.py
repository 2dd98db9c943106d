"""Calls to a provider's API with an integration's fresh credentials."""
