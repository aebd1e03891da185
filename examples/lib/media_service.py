#!/usr/bin/env python3
"""Stand-in for the media clustering pipeline of seed 004 (the system under test, not a test).

    auth API  --image.uploaded-->  embedder  --embedding.ingested-->  cluster worker
    (HTTP)     streams:image.uploaded         streams:embedding.ingested    (group cluster-workers)
                                    |                                   |
                               photo_insights.embedding          photo_insights.cluster_id,
                                                                 cluster_jobs_total, ...

- POST /api/pets/<pet>/photos {"photo_id": ...}: the auth API stores the upload and, when
  ENABLE_EMBEDDING_EVENT_STREAMS=1 in its env file, publishes image.uploaded.
- The embedder (its own env file, same flag) consumes image.uploaded (group embedders), writes
  the embedding into photo_insights and publishes embedding.ingested.
- The cluster worker (consumer cluster-worker-1 of group cluster-workers) assigns a cluster,
  observes cluster_job_duration_seconds, increments cluster_jobs_total, sets
  cluster_last_noise_count, acknowledges the entry, then writes the marker
  <marker_root>/photos/<photo_id>/.clustered.
- GET /metrics (Prometheus text format), GET /health.

--fault (for run.sh --break) makes it misbehave: counter (cluster_jobs_total never moves),
slow_jobs (each clustering job takes 3.5 s).
"""

import hashlib
import json
import os
import time

import svclib

UPLOADED = "streams:image.uploaded"
INGESTED = "streams:embedding.ingested"
FLAG = "ENABLE_EMBEDDING_EVENT_STREAMS"


def flag_on(env):
    return env.get(FLAG, "").lower() in ("1", "true")


def main():
    a = svclib.service_args(["--auth-env", "--embedder-env"])

    password = os.environ.get("REDIS_PASSWORD") or None
    auth_env = svclib.read_env_file(a.auth_env)
    embedder_env = svclib.read_env_file(a.embedder_env)
    db = svclib.Postgres(a.pg_url)

    m = svclib.Metrics()
    m.declare("cluster_jobs_total", "counter")
    m.declare("cluster_last_noise_count", "gauge")
    m.declare("cluster_job_duration_seconds", "histogram",
              [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, float("inf")])
    m.declare("photos_uploaded_total", "counter")
    m.declare("embeddings_ingested_total", "counter")

    api = svclib.Redis(a.redis_port, password)
    for stream, group in ((UPLOADED, "embedders"), (INGESTED, "cluster-workers")):
        try:
            api.call("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
        except RuntimeError as e:  # BUSYGROUP: run.sh created it (e.g. with a stuck backlog)
            if "BUSYGROUP" not in str(e):
                raise

    def embedder():
        r = svclib.Redis(a.redis_port, password)
        while True:
            reply = r.call("XREADGROUP", "GROUP", "embedders", "embedder-1", "COUNT", 10,
                           "BLOCK", 500, "STREAMS", UPLOADED, ">")
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    ev = svclib.stream_fields(fields)
                    digest = hashlib.sha256(ev["photo_id"].encode()).digest()
                    vector = "[" + ",".join("%.4f" % (b / 255) for b in digest[:8]) + "]"
                    db.run("INSERT INTO photo_insights (photo_id, pet_id, embedding) "
                           "VALUES (:'photo_id', :'pet_id', :'embedding') "
                           "ON CONFLICT (photo_id) DO UPDATE SET embedding = EXCLUDED.embedding",
                           photo_id=ev["photo_id"], pet_id=ev["pet_id"], embedding=vector)
                    r.call("XADD", INGESTED, "*", "event", "embedding.ingested",
                           "photo_id", ev["photo_id"], "model", "clip-vit-b32")
                    m.inc("embeddings_ingested_total")
                    r.call("XACK", UPLOADED, "embedders", entry_id)

    def cluster_worker():
        r = svclib.Redis(a.redis_port, password)
        while True:
            reply = r.call("XREADGROUP", "GROUP", "cluster-workers", "cluster-worker-1",
                           "COUNT", 10, "BLOCK", 500, "STREAMS", INGESTED, ">")
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    ev = svclib.stream_fields(fields)
                    start = time.monotonic()
                    time.sleep(3.5 if a.fault == "slow_jobs" else 0.3)  # HDBSCAN over the pet's photos
                    cluster = int(hashlib.sha256(ev["photo_id"].encode()).hexdigest(), 16) % 7
                    db.run("UPDATE photo_insights SET cluster_id = :'cluster', "
                           "clustered_at = now() WHERE photo_id = :'photo_id'",
                           cluster=cluster, photo_id=ev["photo_id"])
                    m.observe("cluster_job_duration_seconds", time.monotonic() - start)
                    if a.fault != "counter":
                        m.inc("cluster_jobs_total")
                    m.set("cluster_last_noise_count", 4)
                    r.call("XACK", INGESTED, "cluster-workers", entry_id)
                    svclib.write_marker(a.marker_root, "photos/%s/.clustered" % ev["photo_id"],
                                        {"photo_id": ev["photo_id"], "cluster_id": cluster})

    if flag_on(embedder_env):
        svclib.spawn(embedder)
    svclib.spawn(cluster_worker)

    def app(method, path, body):
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "GET" and path == "/metrics":
            return 200, m.exposition()
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 4 and parts[:2] == ["api", "pets"] \
                and parts[3] == "photos":
            photo = json.loads(body or b"{}").get("photo_id")
            if not photo:
                return 400, {"error": "photo_id is required"}
            m.inc("photos_uploaded_total")
            if flag_on(auth_env):
                api.call("XADD", UPLOADED, "*", "event", "image.uploaded",
                         "photo_id", photo, "pet_id", parts[2])
            return 201, {"photo_id": photo, "pet_id": parts[2], "status": "uploaded"}
        return 404, {"error": "no route " + path}

    svclib.serve(a.port, app)


if __name__ == "__main__":
    main()
