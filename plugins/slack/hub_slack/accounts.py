"""The external account id of a Slack installation, one format for OAuth and for events.

- a workspace outside Enterprise Grid: its team id, `T0123ABCD`;
- a workspace of an Enterprise Grid org: `E0123ABCD:T0123ABCD`;
- an org-wide install on Enterprise Grid: the enterprise id, `E0123ABCD`.

The hub routes an app-level event to the integrations whose external
account id equals `NormalizedEvent.account`, so `oauth_account` and
`normalize` must build it the same way; both call `external_account_id`.
"""

from __future__ import annotations

from typing import Any


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def external_account_id(team_id: Any, enterprise_id: Any = None, is_enterprise_install: Any = False) -> str | None:
    team = _text(team_id)
    enterprise = _text(enterprise_id)
    if is_enterprise_install in (True, "true") and enterprise:
        return enterprise
    if enterprise and team:
        return f"{enterprise}:{team}"
    return team
