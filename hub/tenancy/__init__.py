"""Tenants and what they own: API keys, integrations, connector apps, quotas."""
