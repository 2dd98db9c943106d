"""Stripe connector for hub."""
