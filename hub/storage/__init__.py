"""Where the hub keeps things: tables, the database and Redis connections, and the stores chosen between them.

Leases, rate limits and OAuth state each have one interface and a backend per
store (Redis, or the database or memory), chosen once when the app is built;
beside them, envelope encryption (per-tenant data keys wrapped by a key provider,
and their cache), the key check and rotation, secret digests, and keyset pagination.
Nothing here knows the layers above: they reach these through the app's hub (hub.runtime).
"""
