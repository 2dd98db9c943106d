"""A fake Gmail API (and Google's revoke endpoint) for the Gmail connector's tests, served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request

ACCESS_TOKEN = "ya29.a0AfB_byC-FakeGmailAccessToken0123456789"
REFRESH_TOKEN = "1//0gFakeGmailRefreshToken-abcdefghijklmnop"
MAILBOX = "Grace.Hopper@example.com"
FIRST_HISTORY_ID = 1000
# history.list's historyTypes values and the record fields they select.
HISTORY_TYPE_KEYS = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted", "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}


def google_error(status: int, reason: str, message: str = "", google_status: str = "") -> Any:
    """Google's JSON error body (`error.errors[].reason`)."""
    body = {"error": {"code": status, "message": message or reason, "errors": [{"message": message or reason, "domain": "global", "reason": reason}]}}
    if google_status:
        body["error"]["status"] = google_status
    return jsonify(body), status


def message_id(number: int) -> str:
    return f"18c{number:013x}"


@dataclass
class FakeGmail:
    """A mailbox behind Gmail's REST shapes: profile, history.list, messages.list/get, watch, and Google's revoke.

    Messages are numbered; delivering one bumps the mailbox historyId and adds
    a `messageAdded` history record. Page tokens are offsets. History older
    than `history_starts_after` answers 404, like expired history.
    """

    base_url: str = ""
    address: str = MAILBOX
    messages: list[dict] = field(default_factory=list)  # oldest first
    history: list[dict] = field(default_factory=list)  # oldest first
    history_id: int = FIRST_HISTORY_ID
    history_starts_after: int = 0
    deleted: set[str] = field(default_factory=set)
    valid_tokens: set[str] = field(default_factory=lambda: {ACCESS_TOKEN})
    accept_token: Callable[[str], bool] | None = None
    # kind ("profile", "history", "messages", "message", "watch", "revoke") -> list of (status, reason, retry_after)
    failures: dict[str, list[tuple[int, str, str | None]]] = field(default_factory=dict)
    calls: list[dict] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.address = MAILBOX
        self.messages.clear()
        self.history.clear()
        self.history_id = FIRST_HISTORY_ID
        self.history_starts_after = 0
        self.deleted.clear()
        self.valid_tokens = {ACCESS_TOKEN}
        self.accept_token = None
        self.failures.clear()
        self.calls.clear()
        self.revoked.clear()

    def deliver(self, *numbers: int, other_change: bool = False) -> None:
        """New messages arrive (each one history record); `other_change` also adds a label change record."""
        for number in numbers:
            self.history_id += 7  # history ids grow with gaps
            message = {
                "id": message_id(number),
                "threadId": message_id(number - number % 2),
                "labelIds": ["INBOX", "UNREAD"],
                "snippet": f"Message number {number}",
                "historyId": str(self.history_id),
                "internalDate": str(1_700_000_000_000 + number * 1000),
                "sizeEstimate": 2048 + number,
                "headers": [
                    {"name": "Delivered-To", "value": self.address},
                    {"name": "From", "value": f"Sender {number} <sender{number}@example.org>"},
                    {"name": "Subject", "value": f"Subject {number}"},
                    {"name": "Date", "value": "Tue, 14 Nov 2023 22:13:20 +0000"},
                ],
            }
            self.messages.append(message)
            summary = {"id": message["id"], "threadId": message["threadId"]}
            self.history.append(
                {
                    "id": str(self.history_id),
                    "messages": [summary],
                    "messagesAdded": [{"message": dict(summary, labelIds=message["labelIds"])}],
                }
            )
        if other_change:
            self.history_id += 3
            self.history.append({"id": str(self.history_id), "messages": [{"id": "x", "threadId": "x"}], "labelsAdded": [{"message": {"id": "x"}, "labelIds": ["STARRED"]}]})

    def fail(self, kind: str, status: int, reason: str = "", retry_after: str | None = None, times: int = 1) -> None:
        self.failures.setdefault(kind, []).extend([(status, reason, retry_after)] * times)

    def calls_to(self, kind: str) -> list[dict]:
        return [call for call in self.calls if call["kind"] == kind]

    def app(self) -> Flask:
        api = Flask("fake-gmail")
        prefix = "/gmail/v1/users/me"

        def kind_of(path: str) -> str:
            if path == "/revoke":
                return "revoke"
            rest = path.removeprefix(prefix)
            if rest.startswith("/messages/"):
                return "message"
            return rest.strip("/") or "unknown"

        def page(items: list, size: int) -> tuple[list, str | None]:
            start = int(request.args.get("pageToken") or 0)
            following = start + size
            return items[start:following], (str(following) if following < len(items) else None)

        @api.before_request
        def record_authenticate_and_fail():
            kind = kind_of(request.path)
            self.calls.append(
                {
                    "kind": kind,
                    "method": request.method,
                    "path": request.path,
                    "args": request.args.to_dict(flat=False),
                    "json": request.get_json(silent=True),
                    "form": request.form.to_dict(),
                    "authorization": request.headers.get("Authorization"),
                }
            )
            queued = self.failures.get(kind)
            if queued:
                status, reason, retry_after = queued.pop(0)
                response, status = google_error(status, reason or "backendError")
                if retry_after is not None:
                    response.headers["Retry-After"] = retry_after
                return response, status
            if kind == "revoke":
                return None
            scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
            accepted = self.accept_token(token) if self.accept_token else token in self.valid_tokens
            if scheme != "Bearer" or not accepted:
                return google_error(401, "authError", "Request had invalid authentication credentials.", "UNAUTHENTICATED")
            return None

        @api.get(f"{prefix}/profile")
        def profile():
            return jsonify(
                {"emailAddress": self.address, "messagesTotal": len(self.messages), "threadsTotal": len(self.messages), "historyId": str(self.history_id)}
            )

        @api.get(f"{prefix}/history")
        def history_list():
            start = int(request.args["startHistoryId"])
            if start < self.history_starts_after:
                return google_error(404, "notFound", "Requested entity was not found.", "NOT_FOUND")
            types = request.args.getlist("historyTypes")
            records = [r for r in self.history if int(r["id"]) > start]
            if types:
                keys = {HISTORY_TYPE_KEYS[t] for t in types}
                records = [r for r in records if keys & set(r)]
            chunk, following = page(records, int(request.args.get("maxResults", 100)))
            body: dict[str, Any] = {"historyId": str(self.history_id)}
            if chunk:
                body["history"] = chunk
            if following:
                body["nextPageToken"] = following
            return jsonify(body)

        @api.get(f"{prefix}/messages")
        def messages_list():
            newest_first = [{"id": m["id"], "threadId": m["threadId"]} for m in reversed(self.messages)]
            chunk, following = page(newest_first, int(request.args.get("maxResults", 100)))
            body: dict[str, Any] = {"resultSizeEstimate": len(chunk)}
            if chunk:
                body["messages"] = chunk
            if following:
                body["nextPageToken"] = following
            return jsonify(body)

        @api.get(f"{prefix}/messages/<message_id>")
        def messages_get(message_id: str):
            found = next((m for m in self.messages if m["id"] == message_id and m["id"] not in self.deleted), None)
            if found is None:
                return google_error(404, "notFound", "Requested entity was not found.", "NOT_FOUND")
            if request.args.get("format") != "metadata":
                return google_error(400, "invalidArgument", "this fake serves format=metadata only")
            wanted = {name.lower() for name in request.args.getlist("metadataHeaders")}
            headers = [h for h in found["headers"] if not wanted or h["name"].lower() in wanted]
            resource = {k: v for k, v in found.items() if k != "headers"}
            resource["payload"] = {"mimeType": "multipart/alternative", "headers": headers}
            return jsonify(resource)

        @api.post(f"{prefix}/watch")
        def watch():
            body = request.get_json(silent=True) or {}
            if not body.get("topicName"):
                return google_error(400, "invalidArgument", "Invalid topicName")
            return jsonify({"historyId": str(self.history_id), "expiration": "1700604800000"})

        @api.post("/revoke")
        def revoke():
            token = request.form.get("token", "")
            if token not in {ACCESS_TOKEN, REFRESH_TOKEN} or token in self.revoked:
                return jsonify({"error": "invalid_token", "error_description": "Token expired or revoked"}), 400
            self.revoked.append(token)
            self.valid_tokens.discard(ACCESS_TOKEN)
            return "", 200

        return api
