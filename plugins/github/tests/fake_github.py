"""A fake GitHub REST API on the hub's FakeProviderAPI: /user, /issues with Link paging, the OAuth grant."""

from __future__ import annotations

import base64

from flask import jsonify, request

from hub.testing import FakeOAuthProvider, FakeProviderAPI

USER = {"id": 583231, "login": "octocat", "type": "User"}


def issue(number: int, *, updated: str | None = None, pull_request: bool = False) -> dict:
    found = {
        "id": 1000 + number,
        "number": number,
        "title": f"Issue {number}",
        "state": "open",
        "html_url": f"https://github.com/octo-org/hello/issues/{number}",
        "repository_url": "https://api.github.com/repos/octo-org/hello",
        "updated_at": updated or f"2024-01-{number:02d}T10:00:00Z",
        "user": {"login": "octocat"},
    }
    if pull_request:
        found["pull_request"] = {"url": f"https://api.github.com/repos/octo-org/hello/pulls/{number}"}
    return found


class FakeGitHub(FakeProviderAPI):
    """Accepts the tokens its own `tokens` holds and those the fake OAuth server issued."""

    def __init__(self, oauth: FakeOAuthProvider | None = None, **options) -> None:
        self.oauth = oauth
        self.issues: list[dict] = []
        self.grants_deleted: list[tuple[str, str]] = []
        super().__init__(tokens={"gho_test_token"}, public_paths={"/applications/hub-test-client/grant"}, **options)

    def accepts(self, token):
        return super().accepts(token) or (self.oauth is not None and token in self.oauth.tokens)

    def routes(self, app):
        @app.get("/user")
        def user():
            return jsonify(USER)

        @app.get("/issues")
        def issues():
            since = request.args.get("since", "")
            return self.link_paginated([item for item in self.issues if item["updated_at"] >= since])

        @app.delete("/applications/<client_id>/grant")
        def delete_grant(client_id):
            scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
            basic = base64.b64decode(encoded).decode() if scheme == "Basic" else ""
            self.grants_deleted.append((basic, request.get_json()["access_token"]))
            return "", 204
