#!/usr/bin/env python3
"""Writes deploy/grafana/dashboards/iss-overview.json (one row of panels per concern).
Edit the PANELS list and re-run; the JSON is committed so Grafana needs nothing else."""
import json, pathlib

PANELS = [
    ("Ingestion rate (updates/s)", "sum(rate(iss_ingest_updates_received_total[1m]))", "ops"),
    ("Published to Kafka (events/s)", "sum(rate(iss_ingest_events_published_total[1m]))", "ops"),
    ("Queue depth", "max(iss_ingest_queue_depth)", "short"),
    ("Publish latency p99", "histogram_quantile(0.99, sum by (le) (rate(iss_ingest_publish_latency_seconds_bucket[5m])))", "s"),
    ("ISSLIVE reconnects (per 15m)", "sum(increase(iss_ingest_reconnects_total[15m]))", "short"),
    ("Signal state (LOS = 0)", "max(iss_ingest_signal_state)", "short"),
    ("Storage consumer lag", "sum(iss_storage_consumer_lag)", "short"),
    ("Rows written/s", "sum(rate(iss_storage_rows_written_total[1m]))", "ops"),
    ("DB errors/s", "sum(rate(iss_storage_db_errors_total[5m]))", "ops"),
    ("Pee-Bot posts (per 1h)", "sum(increase(iss_peebot_posts_total[1h]))", "short"),
    ("gRPC requests/s by method", "sum by (grpc_method, grpc_code) (rate(grpc_server_handled_total[1m]))", "ops"),
    ("gRPC latency p99", "histogram_quantile(0.99, sum by (le, grpc_method) (rate(grpc_server_handling_seconds_bucket[5m])))", "s"),
    ("HTTP requests/s by route", "sum by (route, code) (rate(http_requests_total[1m]))", "ops"),
    ("HTTP latency p99", "histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))", "s"),
]

def panel(i, title, expr, unit):
    return {
        "id": i + 1, "type": "timeseries", "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr,
                     "datasource": {"type": "prometheus", "uid": "prometheus"}}],
    }

dash = {
    "uid": "iss-overview", "title": "ISS telemetry overview", "schemaVersion": 38,
    "version": 1, "editable": True, "refresh": "30s", "tags": ["iss"],
    "time": {"from": "now-6h", "to": "now"},
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}
out = pathlib.Path(__file__).parent / "dashboards" / "iss-overview.json"
out.write_text(json.dumps(dash, indent=2) + "\n")
