"""The database gauges of `/metrics`: bounded queries, a short cache, no write lock.

Cheapness is proved from the plans the databases choose for the very
statements a scrape runs, not from timing: each one over the tables that
grow with traffic (jobs, events) reads a partial index bounded by work
still to do or needing a person, never the whole table. Integrations are
one row per connection and are read whole.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from hub.monitoring.gauges import GaugeCache, collector_queries
from hub.queue import outbox
from hub.storage.database import read_only_connection
from hub.storage.models import WebhookEvent, db, new_id, utcnow

# The partial index each growing table must be read through.
BOUNDED_INDEXES = {"jobs": {"ix_jobs_unfinished_run_at"}, "webhook_events": {"ix_webhook_events_attention"}}


def _sql(connection: sa.Connection, query: sa.Select) -> str:
    return str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))


def _sqlite_reads(connection: sa.Connection, sql: str) -> list[tuple[str, str]]:
    """(table, how) for every table the plan reads: "SEARCH t USING INDEX i (...)" or "SCAN t [USING ... INDEX i]"."""
    reads = []
    for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql):
        words = row[-1].split()
        if words[0] in ("SEARCH", "SCAN"):
            reads.append((words[1], row[-1]))
    return reads


def _postgres_reads(connection: sa.Connection, sql: str) -> list[tuple[str, str]]:
    """(table, "node type / index") for every scan node of the plan, with sequential scans disabled.

    With `enable_seqscan = off` the planner takes any index that can answer
    the query; a sequential scan left in the plan means none can.
    """
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql).scalar()
    reads = []

    def indexes(node: dict[str, Any]) -> list[str]:
        """The index a scan reads, looking into a bitmap heap scan's bitmap index scans."""
        return [node["Index Name"]] if "Index Name" in node else [i for child in node.get("Plans", []) for i in indexes(child)]

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            reads.append((node["Relation Name"], " ".join([node["Node Type"], *indexes(node)])))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return reads


def test_every_gauge_query_reads_growing_tables_only_through_a_bounded_partial_index(app):
    with app.app_context(), read_only_connection() as connection:
        explain = _postgres_reads if connection.dialect.name == "postgresql" else _sqlite_reads
        for query in collector_queries():
            sql = _sql(connection, query)
            for table, how in explain(connection, sql):
                if table not in BOUNDED_INDEXES:
                    continue
                assert "Seq Scan" not in how and how != f"SCAN {table}", f"{sql}\n reads all of {table}: {how}"
                assert any(index in how for index in BOUNDED_INDEXES[table]), f"{sql}\n reads {table} by {how}"


def _scrape(app, **headers: str) -> str:
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_gauges_report_unfinished_work_the_oldest_due_job_and_events_needing_attention(app, tenant):
    now = utcnow()
    with app.app_context():
        rows = [
            outbox.job_values(queue="webhooks", kind="event", tenant_id=tenant.id, run_at=now - timedelta(minutes=10), now=now),
            outbox.job_values(queue="webhooks", kind="event", tenant_id=tenant.id, now=now),
            outbox.job_values(queue="sync", kind="sync", tenant_id=tenant.id, run_at=now + timedelta(hours=1), now=now),
            outbox.job_values(queue="automation", kind="automation", tenant_id=tenant.id, now=now),
        ]
        rows[3]["status"] = "done"
        outbox.add_jobs(rows)
        db.session.execute(sa.insert(WebhookEvent.__table__), [_event(tenant.id, status) for status in ("failed", "dead", "dead", "processed")])
        db.session.commit()

    text = _scrape(app)

    assert 'hub_queue_depth{queue="webhooks"} 2.0' in text
    assert 'hub_queue_depth{queue="sync"} 1.0' in text
    assert 'hub_queue_depth{queue="automation"} 0.0' in text
    webhooks_age = _sample(text, 'hub_oldest_pending_job_age_seconds{queue="webhooks"}')
    assert webhooks_age >= 600, "the job due ten minutes ago is the oldest"
    assert _sample(text, 'hub_oldest_pending_job_age_seconds{queue="sync"}') == 0.0, "a job due later is not waiting"
    assert 'hub_events_needing_attention{status="failed"} 1.0' in text
    assert 'hub_events_needing_attention{status="dead"} 2.0' in text
    assert 'hub_events_needing_attention{status="processed"}' not in text
    assert "hub_ready 1.0" in text
    assert 'hub_dependency_up{dependency="database"} 1.0' in text


def test_scrapes_within_a_few_seconds_share_one_database_read(app):
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_rest):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(engine, "after_cursor_execute", record)
    try:
        _scrape(app)
        first = len(statements)
        _scrape(app)
        _scrape(app)
        again = len(statements)
        app.extensions["hub"].part(GaugeCache).max_age = 0  # the period has passed
        _scrape(app)
    finally:
        sa.event.remove(engine, "after_cursor_execute", record)

    assert first > 0
    assert again == first, "scrapes inside the cache period read nothing"
    assert len(statements) == 2 * first, "the next period reads again"


def test_a_scrape_is_answered_while_another_connection_holds_the_write_lock(app):
    """On SQLite a writer holds the one write lock; a scrape must neither need it nor wait for it."""
    with app.app_context():
        url = db.engine.url
        dialect = db.engine.dialect.name
        engine = db.engine
    if dialect == "sqlite":
        holder = sqlite3.connect(url.database, timeout=0)
        holder.isolation_level = None
        holder.execute("BEGIN IMMEDIATE")
        release = holder.rollback
    else:
        connection = engine.connect()
        transaction = connection.begin()
        connection.exec_driver_sql("LOCK TABLE jobs, webhook_events, integrations IN EXCLUSIVE MODE")
        release = transaction.rollback
    try:
        text = _scrape(app)
    finally:
        release()
        if dialect != "sqlite":
            connection.close()
    assert "hub_ready 1.0" in text
    assert 'hub_queue_depth{queue="webhooks"} 0.0' in text


def test_readiness_is_reported_when_the_database_is_down(make_app):
    app = make_app(DATABASE_URL="postgresql://127.0.0.1:1/none")
    text = _scrape(app)
    assert "hub_ready 0.0" in text
    assert 'hub_dependency_up{dependency="database"} 0.0' in text
    assert "hub_queue_depth" not in text, "no figure is made up while the database is away"


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} is not in the scrape")


def _event(tenant_id: str, status: str) -> dict[str, Any]:
    event_id = new_id()
    return {
        "id": event_id, "tenant_id": tenant_id, "integration_id": new_id(), "connector": "stripe",
        "provider_event_id": event_id, "type": "charge.succeeded", "subject": None, "occurred_at": None,
        "received_at": utcnow(), "payload": {}, "status": status, "attempts": 1, "last_error": None, "processed_at": None,
    }



def test_the_partial_indexes_hold_exactly_the_outboxs_status_sets():
    """The gauges and the prune name their statuses through the outbox; the indexes they rely on say the same."""
    import re

    from hub.storage.models import Job

    def statuses_of(table, index_name: str) -> set[str]:
        [index] = [index for index in table.indexes if index.name == index_name]
        return set(re.findall(r"'([a-z_]+)'", str(index.dialect_options["postgresql"]["where"])))

    assert statuses_of(Job.__table__, "ix_jobs_unfinished_run_at") == set(outbox.UNFINISHED_STATUSES)
    assert statuses_of(WebhookEvent.__table__, "ix_webhook_events_attention") == set(outbox.EVENT_ATTENTION_STATUSES)
    assert statuses_of(WebhookEvent.__table__, "ix_webhook_events_finished") == set(outbox.EVENT_FINISHED_STATUSES)
