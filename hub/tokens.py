"""Fresh credentials for workers and connector calls.

Every caller that needs to talk to a provider on an integration's behalf
goes through `fresh_credentials`, so token refresh has one home.
"""

from __future__ import annotations

from typing import Any

from hub.integrations import get_integration_with_credentials


def fresh_credentials(tenant_id: str, integration_id: str) -> dict[str, Any]:
    """The integration's credentials, with an access token that is not about to expire."""
    _integration, credentials = get_integration_with_credentials(tenant_id, integration_id)
    return credentials
