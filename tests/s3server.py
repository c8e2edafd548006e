"""A real S3-protocol server on loopback for the tests: moto's standalone server.

Two flavours:

* :func:`shared_s3` - one ``ThreadedMotoServer`` per test process (started on first use,
  stopped at exit), speaking HTTP on a free loopback port. Every store and client reaches it
  over the network with SigV4-signed requests, exactly as they would reach MinIO or OBS. It
  runs in the test process only so that a test can fill a bucket with many keys through the
  server's own backend API (:meth:`S3Server.fill`) instead of 20,000 PUTs; what is tested
  (the store's requests and the server's answers) still crosses the socket. This server does
  not check credentials (moto's default).
* :func:`checking_s3` - ``moto_server`` as a subprocess with ``INITIAL_NO_AUTH_ACTION_COUNT``,
  so that after the set-up requests it checks every signature against the IAM users it
  knows: wrong keys are refused as a real server refuses them.

``LABELARTS_TEST_OBJECT_STORE=s3`` (tests/conftest.py) puts every test server's object store
in a fresh bucket of :func:`shared_s3`.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.config import Config

# Keys moto accepts when it checks nothing; a real server would refuse them.
ACCESS_KEY = "labelarts-test"
SECRET_KEY = "labelarts-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class S3Server:
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self, **overrides: Any) -> Any:
        """A boto3 client of this server (as another program writing into the bucket)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=overrides.get("access_key", self.access_key),
            aws_secret_access_key=overrides.get("secret_key", self.secret_key),
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def new_bucket(self) -> str:
        name = f"labelarts-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, root: str = "store", **overrides: Any) -> dict[str, Any]:
        """``Settings`` keyword arguments for an object store in ``bucket`` on this server."""
        values: dict[str, Any] = {
            "object_store_url": f"s3://{bucket}/{root}" if root else f"s3://{bucket}",
            "s3_endpoint_url": self.endpoint,
            "s3_region": REGION,
            "s3_addressing_style": "path",
            "s3_access_key_id": self.access_key,
            "s3_secret_access_key": self.secret_key,
        }
        values.update(overrides)
        return values

    def fill(self, bucket: str, keys: Iterator[str], data: bytes = b"x") -> int:
        """Store ``data`` under each key through the in-process server's backend (fast: no
        request per key); only for :func:`shared_s3`."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]  # the partition's one S3 backend
        count = 0
        for key in keys:
            backend.put_object(bucket, key, data)
            count += 1
        return count


_shared: S3Server | None = None
_shared_lock = threading.Lock()


def shared_s3() -> S3Server:
    """This test process's moto server (started once, on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from moto.server import ThreadedMotoServer

            port = _free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            atexit.register(server.stop)
            _shared = S3Server(f"http://127.0.0.1:{port}")
            _wait(_shared.endpoint)
        return _shared


def _wait(endpoint: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"moto_server exited {process.returncode}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the S3 test server did not start")


@contextmanager
def checking_s3() -> Iterator[tuple[S3Server, str]]:
    """A ``moto_server`` subprocess that checks credentials (after four set-up requests that
    create an IAM user allowed S3, its access key and a bucket); yields the server with that
    user's keys, and the bucket."""
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait(endpoint, process)
        setup = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        setup.create_user(UserName="labelarts")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        setup.put_user_policy(UserName="labelarts", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = setup.create_access_key(UserName="labelarts")["AccessKey"]
        server = S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        bucket = f"labelarts-{uuid.uuid4().hex[:16]}"
        server.client(access_key="setup", secret_key="setup").create_bucket(Bucket=bucket)
        yield server, bucket
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
