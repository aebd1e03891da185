#!/usr/bin/env python3
"""The GCS JSON-API store against the runbook harness's way of reading a bucket (one CLI
process per object: `gsutil cat`), on our GCS test server (tests/support/gcs_test_server.py)
over loopback. Whole processes, median of RUNS after one warm-up run.

    python3 bench/gcs_store/run_bench.py BUILD_DIR [COUNT] [RUNS]

What is timed (each reads and checks COUNT quality certificates of one scene):
  stagecheck, local folder   stagecheck run bench/certificate_fallback/spec.yaml --root DIR
  stagecheck, gs://          the same spec, --root gs://bench (STORAGE_EMULATOR_HOST)
  curl per object            the harness pattern: one `curl` per listing page (JSON API), then
                             one `curl ...?alt=media` process per certificate, json.loads,
                             validation_passed is True
Needs python3, curl and the built generate_certificates. The test server is one Python
process, so its own speed dominates; it is not Google.
"""
import concurrent.futures
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "bench", "s3_store"))
from run_bench import SCENE, compare  # noqa: E402  (the S3 benchmark's shared pieces)

BUCKET = "bench"


def start_server(work):
    port_file = os.path.join(work, "port")
    proc = subprocess.Popen([sys.executable, os.path.join(SOURCE, "tests/support/gcs_test_server.py"),
                             "--port-file", port_file, "--bucket", BUCKET],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                return proc, int(f.read())
        time.sleep(0.05)
    proc.kill()
    sys.exit("the GCS test server did not start")


def upload(root, port):
    files = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            files.append((path, os.path.relpath(path, root)))

    def post(item):
        path, key = item
        conn = http.client.HTTPConnection("127.0.0.1", port)
        with open(path, "rb") as f:
            body = f.read()
        name = urllib.parse.quote(key, safe="")
        conn.request("POST", f"/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}",
                     body=body)
        status = conn.getresponse().status
        conn.close()
        if status != 200:
            raise RuntimeError(f"upload {key}: HTTP {status}")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(post, files))
    return len(files)


def curl_per_object(endpoint):
    """The harness pattern: a process per listing page and per object."""
    prefix = f"scenes/{SCENE}/episodes/quality/episodes/"
    names, token = [], None
    while True:
        cmd = ["curl", "-sS", "--fail", "-G", f"{endpoint}/storage/v1/b/{BUCKET}/o",
               "--data-urlencode", f"prefix={prefix}"]
        if token:
            cmd += ["--data-urlencode", f"pageToken={token}"]
        page = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
        names += [item["name"] for item in page.get("items", [])]
        token = page.get("nextPageToken")
        if not token:
            break
    ok = 0
    for name in names:
        if not name.endswith("/quality_certificate.json"):
            continue
        url = f"{endpoint}/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(name, safe='')}?alt=media"
        body = subprocess.run(["curl", "-sS", "--fail", url], check=True,
                              capture_output=True).stdout
        ok += json.loads(body).get("validation_passed") is True
    return ok


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    stagecheck = os.path.join(build, "bin", "stagecheck")
    spec = os.path.join(SOURCE, "bench/certificate_fallback/spec.yaml")
    work = tempfile.mkdtemp(prefix="stagecheck-gcsbench-")
    proc = None
    try:
        data = os.path.join(work, "local")
        subprocess.run([os.path.join(build, "bin", "generate_certificates"), data, str(count)],
                       check=True, stdout=subprocess.DEVNULL)
        proc, port = start_server(work)
        endpoint = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        n = upload(data, port)
        print(f"uploaded {n} objects in {time.perf_counter() - t0:.1f} s (not timed below)")
        env = {"PATH": os.environ.get("PATH", ""), "STORAGE_EMULATOR_HOST": endpoint}

        compare(stagecheck, spec, data, env, f"gs://{BUCKET}", "test server",
                lambda: curl_per_object(endpoint), count, runs)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
