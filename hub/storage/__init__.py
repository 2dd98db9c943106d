"""Where the hub keeps things: tables, database and Redis connections, leases, rate limits, encryption."""
