"""The shipped Prometheus alerting rules are valid, pass their unit tests, and watch metrics the hub exports.

promtool comes from Debian's `prometheus` package (`./scripts/bootstrap
--test` installs it). Without it these tests skip on a developer's machine
and fail on CI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hub import errors
from hub.testing import in_ci

DOCS = Path(__file__).resolve().parent.parent / "docs"
RULES = DOCS / "prometheus-alerts.yml"
RULE_TESTS = DOCS / "prometheus-alerts.test.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing (./scripts/bootstrap --test installs Debian's prometheus package)"
        if in_ci():
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=DOCS)


def test_the_alert_rules_pass_promtool_check(promtool):
    result = _run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_unit_tests(promtool):
    result = _run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_alert_has_a_unit_test():
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test["alert_rule_test"]}
    assert {rule["alert"] for rule in _rules()} <= tested


def test_every_metric_the_rules_watch_is_exported_by_the_hub(app):
    watched = {name for rule in _rules() for name in re.findall(r"\bhub_[a-z_]+\b", rule["expr"])}
    exported = app.test_client().get("/metrics").get_data(as_text=True)
    declared = set(re.findall(r"^# TYPE (\S+) ", exported, flags=re.MULTILINE))
    declared |= {name + "_total" for name in declared}
    assert watched and watched <= declared, sorted(watched - declared)


def _hub_errors() -> set[type[errors.HubError]]:
    found, pending = set(), [errors.HubError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_the_server_error_alert_counts_every_5xx_outcome_of_the_webhook_endpoint():
    """The endpoint labels each answer with the error's slug, or `error` for an unexpected exception."""
    [rule] = [rule for rule in _rules() if rule["alert"] == "HubWebhookServerErrors"]
    alternatives = set(re.search(r'outcome=~"([^"]+)"', rule["expr"]).group(1).split("|"))
    server_errors = {cls.slug for cls in _hub_errors() if cls.status >= 500} | {"error"}
    assert server_errors <= alternatives, sorted(server_errors - alternatives)
