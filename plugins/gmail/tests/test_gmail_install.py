"""hub-gmail installs alone next to the hub and brings what it imports (google-auth, requests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.testing import assert_installs_alone

PUSH_CHECK = """
assert host.has_hook("gmail", "verify_signature") and host.has_hook("gmail", "renew_subscription")
import google.auth.transport.requests, google.oauth2.id_token  # the push verification's imports resolve
from hub.types import WebhookRequest
assert host.verify_signature("gmail", request=WebhookRequest(headers={}, body=b"{}"), credentials=None) is False
"""


@pytest.mark.installs_packages
def test_plugin_installs_alone_and_loads(tmp_path):
    assert_installs_alone(
        Path(__file__).resolve().parents[1], tmp_path, connector="gmail", distribution="hub-gmail", extra_check=PUSH_CHECK
    )
