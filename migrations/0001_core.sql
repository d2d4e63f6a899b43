-- Core tables shared by every service that stores Kafka data in PostgreSQL.
-- (schema_migrations itself is created by the migrations runner, common/pg.cc.)

-- The next Kafka offset to read per consumer group and partition. A sink writes
-- its rows and these offsets in one transaction and seeks to them on every
-- partition assignment: that is what makes Kafka -> PostgreSQL exactly-once.
-- Offsets committed to Kafka itself are advisory only (for lag tooling).
CREATE TABLE consumer_offsets (
  group_id    text        NOT NULL,
  topic       text        NOT NULL,
  partition   integer     NOT NULL CHECK (partition >= 0),
  next_offset bigint      NOT NULL CHECK (next_offset >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);
