#!/usr/bin/env python3
"""Stand-in for Grace, the service seed 002's production scenario drives (the system under test).

- GET  /health                          database reachable, Trigger Mesh outbox not backed up
- GET  /api/missions/<id>               the mission as stored (status, progress, rollbacks)
- POST /api/tasks                       a task submission (the concurrent-load phase)
- POST /api/missions/<id>/rollback      phase 4: {"action_id": N, "reason": ...} restores the
       action's safe-hold snapshot, counts the rollback, logs it in the immutable log (one
       transaction), publishes mission.rolled_back on the Trigger Mesh (Redis stream
       trigger_mesh:events; kept in an outbox and retried while Redis is away), increments
       grace_rollbacks_total and writes the marker <marker_root>/missions/<id>/.rollback_recorded
- GET  /metrics                         Prometheus text format

An event listener (consumer listener-1 of group event-listeners) drains the Trigger Mesh.
--fault (for run.sh --break): slow (task submissions take 0.8 s), errors (1 in 5 fails with 503),
rollback_uncounted (the rollback is done and logged, but missions.rollbacks is not incremented).
"""

import json
import os
import threading
import time

import svclib

MESH = "trigger_mesh:events"


def main():
    a = svclib.service_args()

    password = os.environ.get("REDIS_PASSWORD") or None
    db = svclib.Postgres(a.pg_url)
    m = svclib.Metrics()
    m.declare("grace_rollbacks_total", "counter")
    m.declare("grace_tasks_submitted_total", "counter")
    m.declare("grace_mesh_events_published_total", "counter")
    m.declare("grace_task_duration_seconds", "histogram",
              [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, float("inf")])

    svclib.Redis(a.redis_port, password).call(
        "XGROUP", "CREATE", MESH, "event-listeners", "0", "MKSTREAM")

    outbox = []
    outbox_lock = threading.Condition()

    def publisher():
        r = None
        while True:
            with outbox_lock:
                while not outbox:
                    outbox_lock.wait()
                fields = outbox[0]
            try:
                r = r or svclib.Redis(a.redis_port, password, timeout=2)
                r.call("XADD", MESH, "*", *fields)
                m.inc("grace_mesh_events_published_total")
                with outbox_lock:
                    outbox.pop(0)
            except (OSError, ConnectionError) as e:
                print("trigger mesh unavailable, will retry: %s" % e, flush=True)
                r = None
                time.sleep(1)

    def listener():
        r = None
        while True:
            try:
                r = r or svclib.Redis(a.redis_port, password, timeout=5)
                reply = r.call("XREADGROUP", "GROUP", "event-listeners", "listener-1",
                               "COUNT", 10, "BLOCK", 500, "STREAMS", MESH, ">")
                for _stream, entries in reply or []:
                    for entry_id, _fields in entries:
                        r.call("XACK", MESH, "event-listeners", entry_id)
            except (OSError, ConnectionError) as e:
                print("listener: %s" % e, flush=True)
                r = None
                time.sleep(1)

    svclib.spawn(publisher)
    svclib.spawn(listener)

    submitted = [0]
    submitted_lock = threading.Lock()

    def submit_task(body):
        start = time.monotonic()
        with submitted_lock:
            submitted[0] += 1
            n = submitted[0]
        if a.fault == "slow":
            time.sleep(0.8)
        m.inc("grace_tasks_submitted_total")
        if a.fault == "errors" and n % 5 == 0:
            return 503, {"error": "trigger mesh saturated, retry later"}
        task = json.loads(body or b"{}")
        m.observe("grace_task_duration_seconds", time.monotonic() - start)
        return 202, {"task_id": "task-%06d" % n, "kind": task.get("kind", "chat"),
                     "status": "queued"}

    def mission(mid):
        row = db.run("SELECT row_to_json(m) FROM missions m WHERE id = :'id'", id=mid)
        return (200, json.loads(row)) if row else (404, {"error": "no mission " + mid})

    def rollback(mid, body):
        req = json.loads(body or b"{}")
        action = int(req["action_id"])
        reason = str(req.get("reason", "contract_violation"))
        # The mission's rollback counter (fault rollback_uncounted: the update is forgotten).
        count_rollback = "" if a.fault == "rollback_uncounted" else \
            "UPDATE missions SET rollbacks = rollbacks + 1 WHERE id = :'mission';"
        out = db.run(("""
BEGIN;
UPDATE actions SET status = 'rolled_back' WHERE id = :'action' AND mission_id = :'mission';
UPDATE snapshots SET restored = true, restored_at = now() WHERE action_id = :'action';
""" + count_rollback + """
INSERT INTO events (mission_id, action_id, kind, payload, created_at)
  VALUES (:'mission', :'action', 'agentic.action_rolled_back',
          jsonb_build_object('reason', :'reason'::text), now());
SELECT append_log(:'mission', :'action', 'action_rolled_back', now());
COMMIT;"""), mission=mid, action=action, reason=reason)
        seq = out.splitlines()[-1] if out else ""
        m.inc("grace_rollbacks_total")
        with outbox_lock:
            outbox.append(["event", "mission.rolled_back", "mission_id", mid,
                           "action_id", str(action), "log_seq", seq])
            outbox_lock.notify()
        svclib.write_marker(a.marker_root, "missions/%s/.rollback_recorded" % mid,
                            {"mission_id": mid, "action_id": action, "log_seq": seq})
        return 200, {"mission_id": mid, "action_id": action, "rolled_back": True, "log_seq": seq}

    def app(method, path, body):
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/health":
            db_ok = db.run("SELECT 1") == "1"
            with outbox_lock:
                backlog = len(outbox)
            ok = db_ok and backlog < 100
            return (200 if ok else 503), {
                "status": "ok" if ok else "degraded",
                "checks": [{"name": "database", "ok": db_ok},
                           {"name": "trigger_mesh_outbox", "ok": backlog < 100,
                            "backlog": backlog}]}
        if method == "GET" and path == "/metrics":
            return 200, m.exposition()
        if method == "POST" and path == "/api/tasks":
            return submit_task(body)
        if parts[:2] == ["api", "missions"] and len(parts) == 3 and method == "GET":
            return mission(parts[2])
        if parts[:2] == ["api", "missions"] and len(parts) == 4 and parts[3] == "rollback" \
                and method == "POST":
            return rollback(parts[2], body)
        return 404, {"error": "no route " + path}

    svclib.serve(a.port, app)


if __name__ == "__main__":
    main()
