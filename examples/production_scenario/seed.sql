-- What the production scenario's phases 1-3 leave in Grace's database (seed 002): one mission,
-- six injected errors across the three tiers, their contracts, benchmarks and safe-hold
-- snapshots (tier 2+), approval decisions (2 of 3 approved), agentic.action_* events and the
-- immutable audit log (a hash chain). Phase 4 (the forced rollback) is the stage trigger.
-- Like the seed's own schema, events carry no FOREIGN KEY: referential integrity is checked.
\set mission 'mission-e2e-0001'

CREATE TABLE missions (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  status     text NOT NULL,
  progress   numeric NOT NULL,
  rollbacks  integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
);
CREATE TABLE actions (
  id         integer PRIMARY KEY,
  mission_id text NOT NULL REFERENCES missions (id),
  tier       integer NOT NULL,
  error_kind text NOT NULL,
  confidence real NOT NULL,
  status     text NOT NULL
);
CREATE TABLE contracts (
  id         integer PRIMARY KEY,
  action_id  integer NOT NULL,
  mission_id text NOT NULL,
  expected   jsonb NOT NULL
);
CREATE TABLE benchmarks (
  id         integer PRIMARY KEY,
  action_id  integer NOT NULL,
  mission_id text NOT NULL,
  passed     boolean NOT NULL
);
CREATE TABLE snapshots (
  id          integer PRIMARY KEY,
  action_id   integer NOT NULL,
  mission_id  text NOT NULL,
  kind        text NOT NULL,
  restored    boolean NOT NULL DEFAULT false,
  restored_at timestamptz
);
CREATE TABLE approvals (
  id         integer PRIMARY KEY,
  action_id  integer NOT NULL,
  mission_id text NOT NULL,
  decision   text NOT NULL,
  decided_at timestamptz NOT NULL
);
CREATE TABLE events (
  id         bigserial PRIMARY KEY,
  mission_id text NOT NULL,
  action_id  integer,
  kind       text NOT NULL,
  payload    jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL
);
CREATE TABLE immutable_log (
  seq        bigint PRIMARY KEY,
  mission_id text NOT NULL,
  action_id  integer,
  event      text NOT NULL,
  created_at timestamptz NOT NULL,
  hash       text NOT NULL,
  prev_hash  text
);

-- Appends one entry: the next sequence number, chained to the previous entry's hash.
CREATE FUNCTION append_log(p_mission text, p_action integer, p_event text, p_at timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  last immutable_log%ROWTYPE;
  s bigint;
BEGIN
  LOCK TABLE immutable_log IN EXCLUSIVE MODE;
  SELECT * INTO last FROM immutable_log ORDER BY seq DESC LIMIT 1;
  s := coalesce(last.seq, 0) + 1;
  INSERT INTO immutable_log VALUES (s, p_mission, p_action, p_event, p_at,
    encode(sha256(convert_to(concat_ws('|', last.hash, s, p_mission, p_action, p_event, p_at), 'UTF8')), 'hex'),
    last.hash);
  RETURN s;
END $$;

-- The log is append-only: updates and deletes are refused.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'immutable_log is append-only';
END $$;
CREATE TRIGGER immutable_log_append_only BEFORE UPDATE OR DELETE ON immutable_log
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Phase 1: the mission, a timeline anchor ten minutes ago.
INSERT INTO missions VALUES (:'mission', 'production scenario (normal mode)', 'completed', 1.0, 0,
                             now() - interval '10 minutes');
SELECT append_log(:'mission', NULL, 'mission_created', now() - interval '10 minutes');
INSERT INTO events (mission_id, kind, created_at)
  VALUES (:'mission', 'mission.created', now() - interval '10 minutes');

-- Phase 2: six errors injected across the tiers; phase 3: approvals for tier 2+ (2 of 3).
INSERT INTO actions (id, mission_id, tier, error_kind, confidence, status) VALUES
  (1, :'mission', 1, 'database_locked',        0.92, 'completed'),
  (2, :'mission', 1, 'validation_error',       0.88, 'completed'),
  (3, :'mission', 1, 'timeout',                0.81, 'completed'),
  (4, :'mission', 2, 'permission_denied',      0.67, 'completed'),
  (5, :'mission', 2, 'resource_exhausted',     0.55, 'rejected'),
  (6, :'mission', 3, 'dependency_unavailable', 0.43, 'completed');
INSERT INTO contracts SELECT id, id, mission_id, jsonb_build_object('error_kind', error_kind, 'tier', tier)
  FROM actions;
INSERT INTO benchmarks SELECT id, id, mission_id, true FROM actions WHERE tier >= 2;
INSERT INTO snapshots (id, action_id, mission_id, kind) SELECT id, id, mission_id, 'safe_hold'
  FROM actions WHERE tier >= 2;
INSERT INTO approvals SELECT id, id, mission_id,
    CASE WHEN status = 'rejected' THEN 'rejected' ELSE 'approved' END,
    now() - interval '8 minutes' + id * interval '5 seconds'
  FROM actions WHERE tier >= 2;

DO $$
DECLARE a record; t timestamptz;
BEGIN
  FOR a IN SELECT * FROM actions ORDER BY id LOOP
    t := now() - interval '9 minutes' + a.id * interval '20 seconds';
    PERFORM append_log(a.mission_id, a.id, 'action_started', t);
    INSERT INTO events (mission_id, action_id, kind, payload, created_at) VALUES
      (a.mission_id, a.id, 'agentic.action_started', jsonb_build_object('tier', a.tier), t);
    IF a.tier >= 2 THEN
      PERFORM append_log(a.mission_id, a.id, 'approval_' || (SELECT decision FROM approvals WHERE action_id = a.id), t + interval '5 seconds');
    END IF;
    PERFORM append_log(a.mission_id, a.id, 'action_finished', t + interval '10 seconds');
    INSERT INTO events (mission_id, action_id, kind, payload, created_at) VALUES
      (a.mission_id, a.id, 'agentic.action_finished', jsonb_build_object('status', a.status),
       t + interval '10 seconds');
  END LOOP;
END $$;
