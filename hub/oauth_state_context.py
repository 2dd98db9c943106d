"""Associated-data context for sealed OAuth state payloads (shared by the state stores and rotation)."""

OAUTH_STATE_CONTEXT = "oauth-state"
