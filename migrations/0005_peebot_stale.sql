-- Pee-Bot: a detection that ended longer ago than the freshness limit
-- (ISS_PEEBOT_MAX_POST_AGE) is stored as 'stale' and never posted: a backlog
-- after an outage or a replay of an old recording must not post about the past.
ALTER TABLE peebot_detections DROP CONSTRAINT peebot_detections_post_status_check;
ALTER TABLE peebot_detections ADD CONSTRAINT peebot_detections_post_status_check
  CHECK (post_status IN ('pending', 'posted', 'dry_run', 'cooldown', 'paused',
                         'daily_cap', 'failed', 'duplicate', 'stale'));
