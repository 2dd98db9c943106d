"""Slack connector for hub."""
