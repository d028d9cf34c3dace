"""A real S3 API on loopback for the tests and the remote benchmark: moto's server.

``python tests/s3_endpoint.py`` serves on 127.0.0.1 (a free port, printed on the first
line of stdout). Two things differ from ``python -m moto.server``:

- requests are handled one at a time. moto checks ``If-None-Match``/``If-Match`` and
  then writes, in two steps; S3 does both at once. Serializing requests makes the
  test endpoint as atomic as S3 is, so a race the store must survive is a race on the
  store's side, not an artefact of the fake.
- every request is counted: ``GET /_nbmodels/requests`` answers the counts by
  operation (``PUT``, ``GET``, ``HEAD``, ``LIST``, ``DELETE``, ``POST``) and
  ``POST /_nbmodels/requests`` answers them and resets them.

:class:`S3Endpoint` starts and stops it from Python (a context manager).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "nbmodels-test",
    "AWS_SECRET_ACCESS_KEY": "nbmodels-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    # No profile or credentials file of the machine is read.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def _kind(environ: dict[str, Any]) -> str:
    method = environ["REQUEST_METHOD"]
    query = environ.get("QUERY_STRING", "")
    path = environ.get("PATH_INFO", "")
    if method == "GET" and ("list-type" in query or "delimiter" in query
                            or path.count("/") <= 1):
        return "LIST"
    return method


def serve(port: int = 0) -> None:
    """Run the serialized, counting moto server until killed."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    moto_app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    counts: Counter[str] = Counter()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/_nbmodels/requests":
            body = json.dumps(dict(counts)).encode()
            if environ["REQUEST_METHOD"] == "POST":
                counts.clear()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        with lock:
            counts[_kind(environ)] += 1
            # The whole response is produced under the lock: check and write are one.
            return [b"".join(moto_app(environ, start_response))]

    server = make_server("127.0.0.1", port, app, threaded=True,
                         request_handler=MotoRequestHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class S3Endpoint:
    """The server above in a child process, with the environment that points at it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> S3Endpoint:
        env = {**os.environ, **FAKE_CREDENTIALS}
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.counts()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return self

    def env(self) -> dict[str, str]:
        """The variables a client needs: fake credentials and the endpoint."""
        return {**FAKE_CREDENTIALS, "NBMODELS_S3_ENDPOINT": self.url}

    def counts(self, reset: bool = False) -> Counter[str]:
        """Requests served by operation since the last reset."""
        req = urllib.request.Request(f"{self.url}/_nbmodels/requests",
                                     method="POST" if reset else "GET")
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            return Counter(json.loads(resp.read()))

    def make_bucket(self, name: str) -> None:
        """Create a bucket with boto3 (what a team does once, outside nbmodels)."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                              aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        client.create_bucket(Bucket=name)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
