#!/usr/bin/env python3
"""The S3 store against the runbook harness's way of reading a bucket (one CLI process per
object), on s3rver over loopback. Whole processes, median of RUNS after one warm-up run.

    python3 bench/s3_store/run_bench.py BUILD_DIR [COUNT] [RUNS]

What is timed (each reads and checks COUNT quality certificates of one scene):
  stagecheck, local folder   stagecheck run bench/certificate_fallback/spec.yaml --root DIR
  stagecheck, s3://          the same spec, --root s3://bench (AWS_* environment -> s3rver)
  curl per object            the harness pattern (gsutil once per object): one `curl
                             --aws-sigv4` per ListObjectsV2 page, then one `curl` process per
                             certificate, json.loads, validation_passed is True
Needs node and tests/npm (npm ci --prefix tests/npm), curl, and the built generate_certificates.
"""
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
SCENE = "kitchen_001"
BUCKET = "bench"
SIGV4 = ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "S3RVER:S3RVER",
         "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_s3rver(data_dir):
    port = free_port()
    script = os.path.join(SOURCE, "tests/npm/node_modules/s3rver/bin/s3rver.js")
    proc = subprocess.Popen(["node", "--openssl-legacy-provider", script, "-d", data_dir,
                             "-a", "127.0.0.1", "-p", str(port), "--no-vhost-buckets", "--silent",
                             "--configure-bucket", BUCKET],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("s3rver did not start")


def upload(root, port):
    """PUTs every file under root. s3rver checks only the key id, so the upload (not timed)
    sends a syntactically valid Authorization header without computing a signature."""
    files = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            files.append((path, os.path.relpath(path, root)))
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    auth = (f"AWS4-HMAC-SHA256 Credential=S3RVER/{amz_date[:8]}/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=" + "0" * 64)

    def put(item):
        path, key = item
        conn = http.client.HTTPConnection("127.0.0.1", port)
        with open(path, "rb") as f:
            body = f.read()
        conn.request("PUT", f"/{BUCKET}/{key}", body=body,
                     headers={"Authorization": auth, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                              "x-amz-date": amz_date})
        status = conn.getresponse().status
        conn.close()
        if status != 200:
            raise RuntimeError(f"PUT {key}: HTTP {status}")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    return len(files)


def curl_list(endpoint, prefix):
    """Every key under prefix, one `curl` process per ListObjectsV2 page."""
    keys, token = [], None
    while True:
        cmd = ["curl", "-sS", "--fail"] + SIGV4 + ["-G", f"{endpoint}/{BUCKET}",
               "--data-urlencode", "list-type=2", "--data-urlencode", f"prefix={prefix}"]
        if token:
            cmd += ["--data-urlencode", f"continuation-token={token}"]
        root = ET.fromstring(subprocess.run(cmd, check=True, capture_output=True).stdout)
        ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        keys += [c.find(ns + "Key").text for c in root.iter(ns + "Contents")]
        if root.find(ns + "IsTruncated").text != "true":
            break
        token = root.find(ns + "NextContinuationToken").text
    return keys


def curl_get(endpoint, key):
    """One object's body, one `curl` process."""
    return subprocess.run(["curl", "-sS", "--fail"] + SIGV4 + [f"{endpoint}/{BUCKET}/{key}"],
                          check=True, capture_output=True).stdout


def curl_per_object(endpoint):
    """The harness pattern: a process per page and per object."""
    keys = curl_list(endpoint, f"scenes/{SCENE}/episodes/quality/episodes/")
    ok = 0
    for key in keys:
        if not key.endswith("/quality_certificate.json"):
            continue
        doc = json.loads(curl_get(endpoint, key))
        ok += doc.get("validation_passed") is True
    return ok


def timed(fn, runs):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def compare(stagecheck, spec, data, env, bucket_root, server, curl_fn, count, runs):
    """Times stagecheck on the local folder and on `bucket_root`, and one curl per object
    (`curl_fn` returns how many certificates passed); prints medians. Shared with the GCS
    benchmark."""
    def run_stagecheck(root):
        r = subprocess.run([stagecheck, "run", spec, "--root", root, "--var",
                            f"scene_id={SCENE}", "--quiet"], env=env, capture_output=True)
        if r.returncode != 0:
            sys.exit(f"stagecheck --root {root}: exit {r.returncode}\n{r.stdout.decode()}")

    def run_curl():
        if curl_fn() != count:
            sys.exit("curl per object: not every certificate passed")

    rows = [("stagecheck, local folder", lambda: run_stagecheck(data)),
            (f"stagecheck, {bucket_root.split(':')[0]}:// ({server})",
             lambda: run_stagecheck(bucket_root)),
            (f"curl per object ({server})", run_curl)]
    print(f"{count} certificates, median of {runs} runs (min-max)")
    for name, fn in rows:
        median, lo, hi = timed(fn, runs)
        print(f"  {name:32s} {median:8.3f} s  ({lo:.3f}-{hi:.3f})")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    stagecheck = os.path.join(build, "bin", "stagecheck")
    spec = os.path.join(SOURCE, "bench/certificate_fallback/spec.yaml")
    work = tempfile.mkdtemp(prefix="stagecheck-s3bench-")
    proc = None
    try:
        data = os.path.join(work, "local")
        subprocess.run([os.path.join(build, "bin", "generate_certificates"), data, str(count)],
                       check=True, stdout=subprocess.DEVNULL)
        os.makedirs(os.path.join(work, "s3rver"))
        proc, port = start_s3rver(os.path.join(work, "s3rver"))
        endpoint = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        n = upload(data, port)
        print(f"uploaded {n} objects in {time.perf_counter() - t0:.1f} s (not timed below)")
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="S3RVER",
                   AWS_SECRET_ACCESS_KEY="S3RVER")

        compare(stagecheck, spec, data, env, f"s3://{BUCKET}", "s3rver",
                lambda: curl_per_object(endpoint), count, runs)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
