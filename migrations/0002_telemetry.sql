-- Storage service (services/storage): the telemetry history, the item catalog
-- with each item's latest value, and per-minute update counts for rates.

-- One row per TelemetryEvent, partitioned by UTC day of source_ts.
-- Partitions are named telemetry_pYYYYMMDD and are created ahead of time and on
-- demand by the service (services/storage/partitions.cc), which also drops
-- those older than ISS_STORAGE_RETENTION. The default partition is a safety
-- net only: the service moves its rows into a day partition when it creates one.
--
-- The primary key includes the partition key (a unique event_id alone cannot be
-- enforced across partitions). event_id is derived from item_id and source_ts,
-- so (item_id, source_ts, event_id) dedupes exactly, and the same index serves
-- the (item_id, source_ts) look-ups of every query.
--
-- Ids are ASCII and compared byte-wise (COLLATE "C"): cheaper index work than a
-- linguistic locale, and the same order the service uses for page tokens.
CREATE TABLE telemetry (
  item_id          text COLLATE "C" NOT NULL,
  source_ts        timestamptz      NOT NULL,
  event_id         text COLLATE "C" NOT NULL,
  ingest_ts        timestamptz      NOT NULL,
  value            text,
  -- value parsed as a finite number when it is one (filters and series).
  value_num        double precision,
  status_class     text,
  status_indicator text,
  status_color     text,
  calibrated_data  text,
  source           text             NOT NULL DEFAULT '',
  signal           smallint         NOT NULL DEFAULT 0,
  schema_version   integer          NOT NULL,
  CONSTRAINT telemetry_pkey PRIMARY KEY (item_id, source_ts, event_id)
) PARTITION BY RANGE (source_ts);

CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;

-- The catalog (seeded from the shipped CSV at service start) plus the latest
-- committed value of every item ever seen (ids outside the catalog too).
CREATE TABLE items (
  item_id               text COLLATE "C" PRIMARY KEY,
  discipline            text        NOT NULL DEFAULT '',
  ops_name              text        NOT NULL DEFAULT '',
  units                 text        NOT NULL DEFAULT '',
  name                  text        NOT NULL DEFAULT '',
  description           text        NOT NULL DEFAULT '',
  in_catalog            boolean     NOT NULL DEFAULT false,
  last_value            text,
  last_source_ts        timestamptz,
  last_ingest_ts        timestamptz,
  last_event_id         text COLLATE "C",
  last_status_class     text,
  last_status_indicator text,
  last_status_color     text,
  last_calibrated_data  text,
  -- When the sink last committed an update of this item.
  last_seen             timestamptz,
  total_updates         bigint      NOT NULL DEFAULT 0
);

CREATE INDEX items_discipline_idx ON items (discipline);

-- Updates committed per item and minute (commit time), for updates_per_minute.
-- Rows older than two hours are deleted by the service's upkeep.
CREATE TABLE item_minute_counts (
  item_id text COLLATE "C" NOT NULL,
  minute  timestamptz NOT NULL,
  updates bigint      NOT NULL,
  PRIMARY KEY (item_id, minute)
);
