"""Webhook ingestion: from a provider's raw delivery to stored events and queued jobs."""
