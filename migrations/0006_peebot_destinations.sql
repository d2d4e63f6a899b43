-- Pee-Bot posts to several destinations (x, bluesky, mastodon, webhook).
-- X keeps its state on peebot_detections (as before); every other destination
-- has one row per (detection, destination) in peebot_deliveries, with the
-- same state machine and its own retries, so one destination failing never
-- blocks another.

-- The per-detection decision, taken once for every destination by whichever
-- destination's poster reaches the detection first: admitted (deliver it),
-- or cooldown / paused / stale (deliver it nowhere). `folded` is how many
-- detections the cooldown held back since the previous admitted one.
CREATE TABLE peebot_admissions (
  detection_id  text PRIMARY KEY REFERENCES peebot_detections (detection_id),
  decision      text NOT NULL CHECK (decision IN ('admitted', 'cooldown', 'paused', 'stale')),
  folded        integer NOT NULL DEFAULT 0,
  reason        text,
  decided_at    timestamptz NOT NULL
);
-- Detections from before this migration were handled by the X poster alone:
-- they are never delivered to a destination added now.
INSERT INTO peebot_admissions (detection_id, decision, reason, decided_at)
  SELECT detection_id, 'stale', 'detected before destinations existed', now()
  FROM peebot_detections;

-- One row per admitted detection and destination. The request is fixed
-- (text, record/body bytes, idempotency handle) and in_flight_since set
-- BEFORE the network call, so a restart re-sends exactly the same request
-- (Bluesky first asks getRecord for the record key).
CREATE TABLE peebot_deliveries (
  detection_id     text NOT NULL REFERENCES peebot_detections (detection_id),
  destination      text NOT NULL CHECK (destination IN ('bluesky', 'mastodon', 'webhook')),
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'posted', 'dry_run', 'paused', 'daily_cap',
                                     'failed', 'stale')),
  text             text,
  joke_index       integer,
  idempotency_key  text,
  request          text,
  first_sent_at    timestamptz,
  in_flight_since  timestamptz,
  next_attempt_at  timestamptz,
  attempts         integer NOT NULL DEFAULT 0,
  post_id          text,
  post_url         text,
  posted_at        timestamptz,
  last_error       text,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (detection_id, destination)
);
CREATE INDEX peebot_deliveries_pending_idx ON peebot_deliveries (destination)
  WHERE status = 'pending';

-- Posts are now made per destination; earlier rows were all X's.
ALTER TABLE peebot_posts ADD COLUMN destination text NOT NULL DEFAULT 'x';
CREATE INDEX peebot_posts_destination_idx ON peebot_posts (destination, posted_at DESC);

-- An admin's pause of one destination survives a restart.
CREATE TABLE peebot_destination_pauses (
  destination  text PRIMARY KEY,
  reason       text NOT NULL DEFAULT '',
  paused_at    timestamptz NOT NULL DEFAULT now()
);
