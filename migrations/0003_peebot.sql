-- Pee-Bot: detections with their post status, the posts made, the detector's
-- state (saved with the consumer offsets in one transaction), and the tank
-- history that Reevaluate replays.

-- One row per detection; detection_id (hex SHA-256 of item id and start time)
-- is the idempotency key: a replay inserts nothing new and never posts twice.
CREATE TABLE peebot_detections (
  detection_id     text PRIMARY KEY,
  item_id          text NOT NULL,
  start_time       timestamptz NOT NULL,
  end_time         timestamptz NOT NULL,
  start_level      double precision NOT NULL,
  end_level        double precision NOT NULL,
  rise             double precision NOT NULL,
  volume_ml        double precision NOT NULL,
  detected_at      timestamptz NOT NULL DEFAULT now(),
  post_status      text NOT NULL DEFAULT 'pending'
                   CHECK (post_status IN ('pending', 'posted', 'dry_run', 'cooldown', 'paused',
                                          'daily_cap', 'failed', 'duplicate')),
  post_text        text,
  post_id          text,
  posted_at        timestamptz,
  post_attempts    integer NOT NULL DEFAULT 0,
  -- Set just before the HTTP call, cleared with the outcome: a row found with
  -- it set after a restart was interrupted mid-post (see services/peebot/README.md).
  in_flight_since  timestamptz,
  last_error       text
);
CREATE INDEX peebot_detections_start_idx ON peebot_detections (start_time DESC, detection_id);
CREATE INDEX peebot_detections_pending_idx ON peebot_detections (start_time)
  WHERE post_status = 'pending';

-- Every post made (live or dry-run), including admin test posts: the daily
-- cap, the cooldown and "never the same text twice in a row" read this.
CREATE TABLE peebot_posts (
  id            bigserial PRIMARY KEY,
  detection_id  text REFERENCES peebot_detections (detection_id),
  posted_at     timestamptz NOT NULL,
  event_time    timestamptz,
  text          text NOT NULL,
  post_id       text,
  dry_run       boolean NOT NULL,
  joke_index    integer
);
CREATE INDEX peebot_posts_time_idx ON peebot_posts (posted_at DESC);

-- The detector's state per consumer group, written in the same transaction as
-- consumer_offsets so a restart resumes exactly after the last committed batch.
CREATE TABLE peebot_detector_state (
  group_id    text PRIMARY KEY,
  state       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The samples the detector consumed (tank items, urine processor, station
-- clock), so Reevaluate can replay any window without the storage service.
CREATE TABLE peebot_samples (
  item_id       text NOT NULL,
  source_ts     timestamptz NOT NULL,
  ingest_ts     timestamptz,
  value         text,
  status_class  text,
  signal        smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (item_id, source_ts)
);
CREATE INDEX peebot_samples_time_idx ON peebot_samples (source_ts);

-- Run-time settings and the pause switch, so an admin's change survives a restart.
CREATE TABLE peebot_settings (
  id          boolean PRIMARY KEY DEFAULT true CHECK (id),
  settings    jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
