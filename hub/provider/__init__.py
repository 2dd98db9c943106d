"""Talking to providers: the HTTP session, the OAuth token endpoint, fresh credentials, and the work done with them.

`calls.provider_call` is the one way to call a provider on an integration's
behalf (fresh credentials, no transaction open during the call); sync,
health checks, subscription renewal, revocation and account lookups are
built on it. The proxy (`proxy.forward`, for the proxy route and
`hub.connections`) keeps the same rule with a transport of its own.
"""
