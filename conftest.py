"""Shared fixtures for the core's and the plugins' tests (see hub/testing.py)."""

pytest_plugins = ["hub.testing"]
