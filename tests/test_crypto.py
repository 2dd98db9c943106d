"""Credential encryption: AES-256-GCM bound to tenant, integration and key id."""

from __future__ import annotations

import base64
import os

import pytest

from hub.errors import ConfigurationError, DecryptionFailed
from hub.storage.crypto import KeyRing, generate_key_entry, integration_context


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.from_setting(generate_key_entry())


def test_round_trip(ring):
    context = integration_context("t1", "i1", "credentials")
    assert ring.decrypt_json(ring.encrypt_json({"api_key": "sk_x"}, context), context) == {"api_key": "sk_x"}


def test_each_encryption_uses_a_fresh_nonce(ring):
    context = integration_context("t1", "i1", "credentials")
    assert ring.encrypt(b"same", context) != ring.encrypt(b"same", context)


def test_ciphertext_moved_to_another_integration_does_not_decrypt(ring):
    token = ring.encrypt(b"secret", integration_context("t1", "i1", "credentials"))
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token, integration_context("t1", "i2", "credentials"))


def test_ciphertext_moved_to_another_tenant_does_not_decrypt(ring):
    token = ring.encrypt(b"secret", integration_context("t1", "i1", "credentials"))
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token, integration_context("t2", "i1", "credentials"))


def test_key_id_is_bound_as_associated_data(ring):
    """Relabelling a ciphertext with another key id of the ring does not open it."""
    second = generate_key_entry()
    both = KeyRing.from_setting(f"{second},{generate_key_entry()}")
    context = integration_context("t1", "i1", "credentials")
    token = both.encrypt(b"secret", context)
    version, _key_id, body = token.split(".", 2)
    relabelled = f"{version}.{both.key_ids[1]}.{body}"
    with pytest.raises(DecryptionFailed):
        both.decrypt(relabelled, context)


def test_tampered_ciphertext_is_refused(ring):
    context = integration_context("t1", "i1", "credentials")
    token = ring.encrypt(b"secret", context)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptionFailed):
        ring.decrypt(flipped, context)
    with pytest.raises(DecryptionFailed):
        ring.decrypt("not-a-token", context)


def test_older_keys_still_open_old_data_after_a_new_key_is_added():
    old = generate_key_entry()
    context = integration_context("t1", "i1", "credentials")
    token = KeyRing.from_setting(old).encrypt(b"secret", context)
    ring = KeyRing.from_setting(f"{generate_key_entry()},{old}")
    assert ring.decrypt(token, context) == b"secret"
    assert ring.needs_rotation(token)


def test_a_key_not_in_the_ring_cannot_open_data():
    context = integration_context("t1", "i1", "credentials")
    token = KeyRing.from_setting(generate_key_entry()).encrypt(b"secret", context)
    with pytest.raises(DecryptionFailed):
        KeyRing.from_setting(generate_key_entry()).decrypt(token, context)


def test_kms_wrapped_ring_needs_the_kms_key():
    kms = base64.urlsafe_b64encode(os.urandom(32)).decode()
    entry = generate_key_entry(kms)
    ring = KeyRing.from_setting(entry, kms)
    context = integration_context("t1", "i1", "credentials")
    assert ring.decrypt(ring.encrypt(b"x", context), context) == b"x"
    with pytest.raises(ConfigurationError):
        KeyRing.from_setting(entry, base64.urlsafe_b64encode(os.urandom(32)).decode())


@pytest.mark.parametrize("setting", ["", "k1:not base64!!", "k1:" + base64.b64encode(b"short").decode(), "k1:{k},k1:{k}"])
def test_bad_key_rings_are_refused(setting):
    key = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ConfigurationError):
        KeyRing.from_setting(setting.format(k=key))


def test_bare_base64_keys_get_a_derived_id():
    key = base64.b64encode(os.urandom(32)).decode()
    ring = KeyRing.from_setting(key)
    assert ring.current_key_id.startswith("k") and len(ring.current_key_id) == 9


def test_repr_shows_no_key_material():
    entry = generate_key_entry()
    ring = KeyRing.from_setting(entry)
    assert entry.split(":")[1] not in repr(ring)
