"""Real servers on loopback for the archiving tests: an S3-compatible store (moto's standalone
server, with IAM signature checks switchable on) and a vendor media server that can break
connections mid-file and corrupt bytes, as real CDNs sometimes do."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import boto3
import httpx
import pytest
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """moto's ThreadedMotoServer with one IAM user whose keys sign every request."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        # moto keeps its accounts per process, not per server: a second server in this process
        # (another test module's session fixture) needs names of its own.
        user = f"recdesk-archiver-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        policy = iam.create_policy(
            PolicyName=f"{user}-policy",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        iam.attach_user_policy(UserName=user, PolicyArn=policy["Policy"]["Arn"])
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.access_key = key["AccessKeyId"]
        self.secret = key["SecretAccessKey"]

    def client(self, secret: str | None = None):
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret or self.secret,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def new_bucket(self) -> str:
        name = f"archive-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    @contextmanager
    def signatures_checked(self) -> Iterator[None]:
        """moto checks signatures only when told to; presigned GETs are not supported in that mode,
        so it is on only where a test needs it."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0").raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.url}/moto-api/reset-auth", content=b"inf").raise_for_status()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


def s3_target(
    s3: S3Server,
    *,
    bucket: str | None = None,
    secret: str | None = None,
    name: str = "",
    prefix: str = "",
    provider: str = "s3_compatible",
):
    from recordings.models import StorageTarget

    return StorageTarget.objects.create(
        name=name or f"s3 {uuid.uuid4().hex[:8]}",
        provider=provider,
        endpoint=s3.url,
        bucket=bucket or s3.new_bucket(),
        region="us-east-1",
        path_style=True,
        access_key=s3.access_key,
        secret=secret or s3.secret,
        prefix=prefix,
    )


@dataclass
class MediaFile:
    body: bytes
    # The first `cut_times` answers stop after `cut_after` bytes of their body and drop the connection.
    cut_after: int = 0
    cut_times: int = 0
    # The first `corrupt_times` answers flip one byte of the body.
    corrupt_times: int = 0
    # State the file's MD5 as its ETag, as S3-style stores do for single-part objects.
    md5_etag: bool = False
    status: int = 200
    content_type: str = "video/mp4"

    @property
    def etag(self) -> str:
        if self.md5_etag:
            return f'"{hashlib.md5(self.body).hexdigest()}"'  # noqa: S324 - the vendor's checksum
        return f'"v-{len(self.body):x}"'


@dataclass
class MediaServer:
    files: dict[str, MediaFile] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def add(self, path: str, body: bytes, **faults) -> str:
        self.files[path] = MediaFile(body, **faults)
        return f"{self.url}/{path}"

    def ranges_for(self, path: str) -> list[str]:
        return [header for requested, header in self.requests if requested == path]


def _handler(media: MediaServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.lstrip("/").split("?", 1)[0]
            range_header = self.headers.get("Range", "")
            with media.lock:
                media.requests.append((path, range_header))
                item = media.files.get(path)
                cut = corrupt = False
                if item is not None:
                    cut = item.cut_times > 0
                    item.cut_times -= cut
                    corrupt = item.corrupt_times > 0
                    item.corrupt_times -= corrupt
            if item is None or item.status != 200:
                self.send_response(item.status if item else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = item.body
            if corrupt:
                middle = len(body) // 2
                body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
            start = 0
            if range_header.startswith("bytes=") and self.headers.get("If-Range", item.etag) == item.etag:
                start = int(range_header[len("bytes=") :].split("-", 1)[0] or 0)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", item.content_type)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("ETag", item.etag)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            payload = body[start:]
            if cut:
                self.wfile.write(payload[: item.cut_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    media = MediaServer()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(media))
    server.daemon_threads = True
    media.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield media
    finally:
        server.shutdown()
        server.server_close()


def media_bytes(size: int, seed: str = "") -> bytes:
    """Deterministic, non-repeating bytes (a repeated pattern would hide an offset error)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])
