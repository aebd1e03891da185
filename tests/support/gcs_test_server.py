#!/usr/bin/env python3
"""A small GCS JSON-API test server for stagecheck's tests (stdlib only, in memory).

No GCS emulator runs on these machines (see the README), so the GCS store is tested against
this: exactly the surface the store uses, with GCS's status codes and JSON shapes.
  POST   /upload/storage/v1/b/B/o?uploadType=media&name=N   media upload -> object metadata
  GET    /storage/v1/b/B/o/N                                 metadata (size as a string, ...)
  GET    /storage/v1/b/B/o/N?alt=media[&ifGenerationMatch=G] bytes; Range: bytes=A-B -> 206
  GET    /storage/v1/b/B/o?prefix=&delimiter=&maxResults=&pageToken=   items, prefixes,
                                                             nextPageToken
  DELETE /storage/v1/b/B/o/N                                 204
Missing objects and buckets are 404 with a JSON error document, as GCS answers them. With
--token T, only "Authorization: Bearer T" is let in: no token or another one is 401 (as Google
answers an expired token), a --forbidden-token is 403 (a valid token without access).

Usage: gcs_test_server.py --port-file FILE [--bucket NAME]... [--token T [--forbidden-token F]...]
The server binds 127.0.0.1 on a free port, writes the port to FILE and serves until SIGTERM.
"""
import argparse
import base64
import hashlib
import json
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OBJECT_PREFIX = "/storage/v1/b/"
UPLOAD_PREFIX = "/upload/storage/v1/b/"


class Store:
    def __init__(self, buckets):
        self.lock = threading.Lock()
        self.buckets = {b: {} for b in buckets}  # bucket -> name -> (bytes, generation, updated)
        self.generation = 1000


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def metadata(bucket, name, entry):
    data, generation, updated = entry
    return {
        "kind": "storage#object",
        "id": "%s/%s/%d" % (bucket, name, generation),
        "name": name,
        "bucket": bucket,
        "size": str(len(data)),
        "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
        "generation": str(generation),
        "updated": rfc3339(updated),
        "contentType": "application/octet-stream",
    }


def make_handler(store, token, forbidden):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every response ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, body=b"", headers=()):
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = list(headers) + [("Content-Type", "application/json; charset=UTF-8")]
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def error(self, status, message, reason):
            self.reply(status, {"error": {"code": status, "message": message,
                                          "errors": [{"message": message, "domain": "global",
                                                      "reason": reason}]}})

        def authorized(self):
            if token is None:
                return True
            got = self.headers.get("Authorization", "")
            if not got.startswith("Bearer "):
                self.error(401, "Anonymous caller does not have storage.objects.get access.",
                           "required")
                return False
            got = got[len("Bearer "):]
            if got in forbidden:
                self.error(403, "The caller does not have storage.objects.get access to the "
                                "object.", "forbidden")
                return False
            if got != token:  # what Google answers for an expired or unknown token
                self.error(401, "Invalid Credentials", "authError")
                return False
            return True

        def route(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            q = {k: v[0] for k, v in query.items()}
            upload = url.path.startswith(UPLOAD_PREFIX)
            rest = url.path[len(UPLOAD_PREFIX if upload else OBJECT_PREFIX):]
            if not (upload or url.path.startswith(OBJECT_PREFIX)):
                return self.error(404, "Not Found", "notFound")
            parts = rest.split("/", 2)
            if len(parts) < 2 or parts[1] != "o":
                return self.error(404, "Not Found", "notFound")
            bucket = urllib.parse.unquote(parts[0])
            name = urllib.parse.unquote(parts[2], errors="strict") if len(parts) == 3 else None
            return bucket, name, q, upload

        def common(self):
            if not self.authorized():
                return None
            routed = self.route()
            if routed is None:
                return None
            bucket = routed[0]
            if bucket not in store.buckets:
                self.error(404, "The specified bucket does not exist.", "notFound")
                return None
            return routed

        def body(self):
            length = int(self.headers.get("Content-Length", "0"))
            return self.rfile.read(length) if length else b""

        def do_POST(self):
            data = self.body()
            routed = self.common()
            if routed is None:
                return
            bucket, _, q, upload = routed
            if not upload or q.get("uploadType") != "media" or not q.get("name"):
                return self.error(400, "Only uploadType=media with a name", "invalid")
            with store.lock:
                store.generation += 1
                entry = (data, store.generation, time.time())
                store.buckets[bucket][q["name"]] = entry
            self.reply(200, metadata(bucket, q["name"], entry))

        def do_DELETE(self):
            routed = self.common()
            if routed is None:
                return
            bucket, name, _, _ = routed
            with store.lock:
                found = store.buckets[bucket].pop(name, None) if name else None
            if found is None:
                return self.error(404, "No such object: %s/%s" % (bucket, name), "notFound")
            self.reply(204)

        def do_GET(self):
            routed = self.common()
            if routed is None:
                return
            bucket, name, q, upload = routed
            if upload:
                return self.error(405, "Method not allowed", "invalid")
            if name is None:
                return self.list(bucket, q)
            with store.lock:
                entry = store.buckets[bucket].get(name)
            if entry is None:
                return self.error(404, "No such object: %s/%s" % (bucket, name), "notFound")
            if "ifGenerationMatch" in q and q["ifGenerationMatch"] != str(entry[1]):
                return self.error(412, "At least one of the pre-conditions you specified did "
                                       "not hold.", "conditionNotMet")
            if q.get("alt") != "media":
                return self.reply(200, metadata(bucket, name, entry))
            data = entry[0]
            rng = self.headers.get("Range")
            if rng is None:
                return self.reply(200, data, [("x-goog-generation", str(entry[1]))])
            first, _, last = rng[len("bytes="):].partition("-")
            first = int(first)
            last = int(last) if last else len(data) - 1
            if first >= len(data):
                return self.reply(416, b"", [("Content-Range", "bytes */%d" % len(data))])
            last = min(last, len(data) - 1)
            self.reply(206, data[first:last + 1],
                       [("Content-Range", "bytes %d-%d/%d" % (first, last, len(data)))])

        def list(self, bucket, q):
            prefix = q.get("prefix", "")
            delimiter = q.get("delimiter", "")
            max_results = int(q.get("maxResults", "1000"))
            after = base64.b64decode(q["pageToken"]).decode() if q.get("pageToken") else None
            with store.lock:
                names = sorted(n for n in store.buckets[bucket] if n.startswith(prefix))
                objects = dict(store.buckets[bucket])
            items, prefixes, last, more = [], [], None, False
            for n in names:
                if after is not None and (n <= after or
                                          (after.endswith(delimiter or "\0") and
                                           n.startswith(after))):
                    continue
                cut = n.find(delimiter, len(prefix)) if delimiter else -1
                group = n[:cut + len(delimiter)] if cut >= 0 else None
                if group is not None and prefixes and prefixes[-1] == group:
                    continue
                if len(items) + len(prefixes) == max_results:
                    more = True
                    break
                if group is not None:
                    prefixes.append(group)
                    last = group
                else:
                    items.append(metadata(bucket, n, objects[n]))
                    last = n
            out = {"kind": "storage#objects"}
            if items:
                out["items"] = items
            if prefixes:
                out["prefixes"] = prefixes
            if more:
                out["nextPageToken"] = base64.b64encode(last.encode()).decode()
            self.reply(200, out)

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--bucket", action="append", default=[])
    parser.add_argument("--token")
    parser.add_argument("--forbidden-token", action="append", default=[])
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 make_handler(Store(args.bucket), args.token,
                                              set(args.forbidden_token)))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
