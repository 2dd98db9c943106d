"""A fake of the part of Stripe's API the hub itself calls for API-key integrations, on 127.0.0.1.

`GET /v1/account` answers with the account a key belongs to, as Stripe does:
401 for a key it does not know, 403 for a restricted key without access to
the account, and (when told to) a 503 outage. It records every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, jsonify, request


@dataclass
class FakeStripeAccounts:
    accounts: dict[str, str] = field(default_factory=dict)  # api key -> acct_...
    without_account_access: set[str] = field(default_factory=set)
    outage: bool = False
    calls: list[dict[str, str | None]] = field(default_factory=list)
    base_url: str = ""
    any_key_account: str | None = None  # when set, every key it does not know belongs to this account

    def reset(self) -> None:
        self.accounts.clear()
        self.without_account_access.clear()
        self.outage = False
        self.calls.clear()
        self.any_key_account = None

    def key_of(self, account: str, key: str) -> str:
        """Register `key` as a key of `account`; returns the key."""
        self.accounts[key] = account
        return key

    def app(self) -> Flask:
        api = Flask("fake-stripe-accounts")

        @api.get("/v1/account")
        def account():  # type: ignore[no-untyped-def]
            key = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            self.calls.append({"path": request.path, "stripe_account": request.headers.get("Stripe-Account")})
            if self.outage:
                return jsonify({"error": {"type": "api_error"}}), 503
            if key in self.without_account_access:
                return jsonify({"error": {"type": "invalid_request_error", "message": "The provided key does not have the required permissions"}}), 403
            if key not in self.accounts and self.any_key_account and key:
                return jsonify({"id": self.any_key_account, "object": "account"})
            if key not in self.accounts:
                return jsonify({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}), 401
            return jsonify({"id": self.accounts[key], "object": "account", "business_profile": {"name": "Account " + self.accounts[key]}})

        return api
