"""Gmail connector for hub."""
