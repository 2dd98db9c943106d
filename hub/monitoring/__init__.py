"""What the hub tells its operators: database gauges, readiness, the separate metrics listener."""
