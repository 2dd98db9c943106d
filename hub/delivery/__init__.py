"""Outbound webhooks: events delivered to the host application's own endpoints."""
