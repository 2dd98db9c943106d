"""`/metrics`, `/healthz` and `/readyz`."""

from __future__ import annotations

from hub.metrics import WEBHOOKS_RECEIVED
from hub.tenancy.integrations import create_integration


def test_healthz_answers_without_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok"


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"]["database"] == "ok"


def test_readyz_is_503_when_the_database_is_down(make_app):
    app = make_app(DATABASE_URL="postgresql://127.0.0.1:1/none")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "unavailable"


def test_metrics_are_prometheus_text_with_database_figures(app, client, tenant):
    with app.app_context():
        create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_metrics_secret_value"})
    WEBHOOKS_RECEIVED.labels(connector="stripe", outcome="accepted").inc()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    assert 'hub_webhooks_received_total{connector="stripe",outcome="accepted"}' in text
    assert 'hub_integrations{connector="stripe",health="unknown",status="active"} 1.0' in text
    assert "# TYPE hub_queue_depth gauge" in text
    assert "rk_metrics_secret_value" not in text


def test_metrics_add_up_across_processes_in_multiprocess_mode(tmp_path):
    """Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR; any worker's scrape sums them."""
    import os
    import subprocess
    import sys

    from hub.testing import clean_environ

    env = clean_environ() | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = "from hub.metrics import WEBHOOKS_RECEIVED; WEBHOOKS_RECEIVED.labels(connector='stripe', outcome='accepted').inc()"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    render = (
        "from prometheus_client import CollectorRegistry, generate_latest\n"
        "from prometheus_client.multiprocess import MultiProcessCollector\n"
        "registry = CollectorRegistry(); MultiProcessCollector(registry)\n"
        "print(generate_latest(registry).decode())"
    )
    scraped = subprocess.run([sys.executable, "-c", render], env=env, capture_output=True, text=True, check=True, timeout=60)
    assert 'hub_webhooks_received_total{connector="stripe",outcome="accepted"} 2.0' in scraped.stdout
    assert os.listdir(tmp_path)
