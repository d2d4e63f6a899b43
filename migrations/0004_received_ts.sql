-- The receive time travels with every event (TelemetryEvent.received_ts):
-- when the update was received from its source (live: the TLCP frame's
-- arrival; replay: the recorded receive time). ingest_ts is only when an
-- ingestion process handled it, which in a replay is the replay's "now".
-- NULL in rows written before this column existed: readers use ingest_ts then.

-- Storage keeps it and its queries return it.
ALTER TABLE telemetry ADD COLUMN received_ts timestamptz;

-- Pee-Bot's stored samples keep it too, so Reevaluate judges a sample's lag
-- (received_ts - source_ts) as the live detector did.
ALTER TABLE peebot_samples ADD COLUMN received_ts timestamptz;
