"""Where objects live in a StorageTarget, and the backends that write and read them.

`object_url` names an object for a vendor's URL. The backends are what archiving
(recordings/archiving.py) writes through: S3 and every S3-compatible store through boto3, and plain
files under settings.RECDESK_ARCHIVE_ROOT, the embedded default. Errors come out as StorageError,
in plain words, never carrying a secret.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from recordings.choices import StorageProvider

# Public endpoints by provider, for targets that leave `endpoint` empty ({bucket}, {region}).
VIRTUAL_HOSTS = {
    StorageProvider.S3: "https://{bucket}.s3.{region}.amazonaws.com",
    StorageProvider.ALIYUN_OSS: "https://{bucket}.oss-{region}.aliyuncs.com",
    StorageProvider.TENCENT_COS: "https://{bucket}.cos.{region}.myqcloud.com",
    StorageProvider.HUAWEI_OBS: "https://{bucket}.obs.{region}.myhuaweicloud.com",
    StorageProvider.GOOGLE_GCS: "https://storage.googleapis.com/{bucket}",
}


def object_url(target, key: str) -> str:
    """The URL of `key` in `target`: path-style under an explicit endpoint, else the provider's host.

    Returns "" when the target cannot name a URL (vendor VOD, local files, Qiniu without endpoint).
    """
    if target is None or not key:
        return ""
    key = quote(key.lstrip("/"), safe="/")
    if target.endpoint:
        return f"{target.endpoint.rstrip('/')}/{quote(target.bucket)}/{key}"
    pattern = VIRTUAL_HOSTS.get(target.provider)
    if not pattern:
        return ""
    return f"{pattern.format(bucket=target.bucket, region=target.region or 'us-east-1')}/{key}"


# ---------------------------------------------------------------------------------------- backends

# The S3-compatible API endpoint of each provider that offers one, used when `endpoint` is empty.
# Each provider documents its own: OSS "Use AWS SDKs to access OSS" (virtual-hosted style only),
# COS "S3 compatibility", OBS "Compatibility with Amazon S3", GCS XML API interoperability (HMAC
# keys), Qiniu Kodo "S3 access domains".
S3_API_ENDPOINTS = {
    StorageProvider.ALIYUN_OSS: "https://s3.oss-{region}.aliyuncs.com",
    StorageProvider.TENCENT_COS: "https://cos.{region}.myqcloud.com",
    StorageProvider.HUAWEI_OBS: "https://obs.{region}.myhuaweicloud.com",
    StorageProvider.GOOGLE_GCS: "https://storage.googleapis.com",
    StorageProvider.QINIU: "https://s3.{region}.qiniucs.com",
}
S3_PROVIDERS = frozenset({StorageProvider.S3, StorageProvider.S3_COMPATIBLE, *S3_API_ENDPOINTS})
# S3 refuses multipart parts under 5 MiB (except the last); bigger parts mean fewer requests.
PART_SIZE = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024


class StorageError(Exception):
    """A storage operation failed. `message` is for people; `code` is the storage's own word."""

    def __init__(self, message: str, *, code: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    # The store's ETag where it has one: S3-style stores use the MD5 of a single-part upload.
    etag: str = ""


# A storage's error codes in plain words, and whether trying again later can help.
ERROR_WORDS = {
    "SignatureDoesNotMatch": (
        _("The storage refused the secret access key: the signature does not match. Enter the secret again."),
        False,
    ),
    "InvalidAccessKeyId": (_("The storage does not know this access key ID."), False),
    "AccessDenied": (_("The storage refused: this key may not do that in this bucket."), False),
    "AllAccessDisabled": (_("The storage refused: all access to this bucket is disabled."), False),
    "NoSuchBucket": (_("The bucket does not exist (check its name and region)."), False),
    "PermanentRedirect": (_("The bucket is in another region or needs another endpoint."), False),
    "AuthorizationHeaderMalformed": (_("The region is wrong for this bucket."), False),
    "InvalidBucketName": (_("The bucket name is not valid for this storage."), False),
    "NoSuchKey": (_("The object is not in the bucket."), True),
    "404": (_("The object is not in the bucket."), True),
    "RequestTimeTooSkewed": (_("This server's clock is too far from the storage's."), True),
    "SlowDown": (_("The storage asked RecDesk to slow down."), True),
    "ServiceUnavailable": (_("The storage is unavailable for now."), True),
    "InternalError": (_("The storage failed internally."), True),
}


def _explain_boto(exc: Exception) -> StorageError:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        words, retryable = ERROR_WORDS.get(code, (None, True))
        if words is None:
            words = _("The storage refused the request: %(message)s") % {
                "message": (error.get("Message") or code)[:200]
            }
        return StorageError(str(words), code=code, retryable=retryable)
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return StorageError(str(_("RecDesk could not reach the storage endpoint.")), code="connect")
    if isinstance(exc, ReadTimeoutError):
        return StorageError(str(_("The storage did not answer in time.")), code="timeout")
    if isinstance(exc, NoCredentialsError):
        return StorageError(str(_("The storage target has no access key.")), code="config", retryable=False)
    if isinstance(exc, BotoCoreError):
        return StorageError(
            str(_("The storage request failed: %(kind)s")) % {"kind": type(exc).__name__}, code="client"
        )
    raise exc


class Writer:
    """One object being written: write() chunks in order, then commit() or abort()."""

    def write(self, chunk: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class Backend:
    kind = ""

    def writer(self, key: str, content_type: str = "") -> Writer:
        raise NotImplementedError

    def put(self, key: str, data: bytes, content_type: str = "") -> None:
        writer = self.writer(key, content_type)
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def head(self, key: str) -> StoredObject:
        raise NotImplementedError

    def read(self, key: str, start: int = 0) -> Iterator[bytes]:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def sha256(self, key: str) -> tuple[str, int]:
        """Read the stored object back whole: its SHA-256 (hex) and its length."""
        digest, size = hashlib.sha256(), 0
        for chunk in self.read(key):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


class S3Backend(Backend):
    kind = "s3"

    def __init__(self, target, *, quick: bool = False) -> None:
        import boto3
        from botocore.config import Config

        self.target = target
        self.bucket = target.bucket
        endpoint = target.endpoint or None
        if endpoint is None and target.provider in S3_API_ENDPOINTS:
            endpoint = S3_API_ENDPOINTS[target.provider].format(region=target.region or "")
        checksums = {}
        if target.provider != StorageProvider.S3:
            # botocore >= 1.36 adds CRC checksums to every upload by default; many S3-compatible
            # stores reject those headers, so send them only where an operation requires them.
            checksums = {
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            }
        config = Config(
            signature_version="s3v4",
            # `quick` is for an admin waiting on a page: fail fast rather than retry.
            connect_timeout=3 if quick else 5,
            read_timeout=10 if quick else 60,
            retries={"max_attempts": 1 if quick else 3, "mode": "standard"},
            s3={
                "addressing_style": "path"
                if target.path_style
                else ("auto" if endpoint is None else "virtual")
            },
            **checksums,
        )
        # Building a client costs tens of milliseconds; playback asks for one per file. A client is
        # thread-safe, and a saved target (new updated_at) gets a new one.
        cache_key = (target.pk, target.updated_at, quick) if target.pk else None
        with _clients_lock:
            client = _clients.get(cache_key) if cache_key else None
        if client is None:
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint,
                region_name=target.region or "us-east-1",
                aws_access_key_id=target.access_key or None,
                aws_secret_access_key=target.secret or None,
                config=config,
            )
            if cache_key:
                with _clients_lock:
                    if len(_clients) > 64:
                        _clients.clear()
                    _clients[cache_key] = client
        self.client = client

    def _call(self, method: str, **kwargs):
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            raise _explain_boto(exc) from None

    def writer(self, key: str, content_type: str = "") -> Writer:
        return _S3Writer(self, key, content_type)

    def head(self, key: str) -> StoredObject:
        answer = self._call("head_object", Key=key)
        return StoredObject(key, int(answer["ContentLength"]), str(answer.get("ETag") or ""))

    def read(self, key: str, start: int = 0) -> Iterator[bytes]:
        kwargs = {"Range": f"bytes={start}-"} if start else {}
        body = self._call("get_object", Key=key, **kwargs)["Body"]
        try:
            while chunk := body.read(READ_CHUNK):
                yield chunk
        except Exception as exc:
            raise _explain_boto(exc) from None
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=key)

    def presigned_url(self, key: str, expires_seconds: int) -> str:
        try:
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        except Exception as exc:
            raise _explain_boto(exc) from None


class _S3Writer(Writer):
    """Buffers up to one part: a small object is one PutObject, a large one a multipart upload."""

    def __init__(self, backend: S3Backend, key: str, content_type: str) -> None:
        self.backend = backend
        self.key = key
        self.extra = {"ContentType": content_type} if content_type else {}
        self.buffer = bytearray()
        self.upload_id = ""
        self.parts: list[dict] = []

    def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        while len(self.buffer) >= PART_SIZE:
            self._send_part(bytes(self.buffer[:PART_SIZE]))
            del self.buffer[:PART_SIZE]

    def _send_part(self, data: bytes) -> None:
        if not self.upload_id:
            self.upload_id = self.backend._call("create_multipart_upload", Key=self.key, **self.extra)[
                "UploadId"
            ]
        number = len(self.parts) + 1
        answer = self.backend._call(
            "upload_part", Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> None:
        if not self.upload_id:
            self.backend._call("put_object", Key=self.key, Body=bytes(self.buffer), **self.extra)
            return
        if self.buffer:
            self._send_part(bytes(self.buffer))
            self.buffer.clear()
        self.backend._call(
            "complete_multipart_upload",
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        self.upload_id = ""

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id:
            try:
                # An unfinished multipart upload is billed until aborted.
                self.backend._call("abort_multipart_upload", Key=self.key, UploadId=self.upload_id)
            except StorageError:
                pass
            self.upload_id = ""


SAFE_KEY = re.compile(r"^[A-Za-z0-9._/\-]+$")


class LocalBackend(Backend):
    """Files under one root directory; a key is a relative path that cannot leave the root."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if not SAFE_KEY.match(key) or any(part in ("", ".", "..") for part in parts):
            raise StorageError(
                str(_("This object name is not allowed in local files.")), code="bad_key", retryable=False
            )
        return self.root.joinpath(*parts)

    def writer(self, key: str, content_type: str = "") -> Writer:
        return _FileWriter(self.path(key))

    def head(self, key: str) -> StoredObject:
        try:
            return StoredObject(key, self.path(key).stat().st_size)
        except FileNotFoundError:
            raise StorageError(str(_("The object is not in the bucket.")), code="404") from None
        except OSError as exc:
            raise _os_error(exc) from None

    def read(self, key: str, start: int = 0) -> Iterator[bytes]:
        try:
            with open(self.path(key), "rb") as handle:
                handle.seek(start)
                while chunk := handle.read(READ_CHUNK):
                    yield chunk
        except FileNotFoundError:
            raise StorageError(str(_("The object is not in the bucket.")), code="404") from None
        except OSError as exc:
            raise _os_error(exc) from None

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise _os_error(exc) from None


def _os_error(exc: OSError) -> StorageError:
    return StorageError(
        str(_("The archive directory cannot be used: %(reason)s"))
        % {"reason": exc.strerror or type(exc).__name__},
        code=f"os:{exc.errno}",
    )


class _FileWriter(Writer):
    """Writes beside the final name and renames on commit, so a half-written file never has its name."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.partial, "wb")  # noqa: SIM115 - closed by commit/abort
        except OSError as exc:
            raise _os_error(exc) from None

    def write(self, chunk: bytes) -> None:
        try:
            self.handle.write(chunk)
        except OSError as exc:
            raise _os_error(exc) from None

    def commit(self) -> None:
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.partial, self.final)
        except OSError as exc:
            raise _os_error(exc) from None

    def abort(self) -> None:
        self.handle.close()
        self.partial.unlink(missing_ok=True)


def can_archive_to(target) -> bool:
    """Whether RecDesk can write its archive into `target` (the vendor's own VOD it cannot)."""
    return target is None or target.provider == StorageProvider.LOCAL or target.provider in S3_PROVIDERS


def backend_for(target, *, quick: bool = False) -> Backend:
    """The backend for a StorageTarget; no target means local files, the embedded default."""
    if target is None:
        return LocalBackend(settings.RECDESK_ARCHIVE_ROOT)
    if target.provider == StorageProvider.LOCAL:
        root = Path(settings.RECDESK_ARCHIVE_ROOT)
        # A local target's "bucket", if given, is a sub-directory of the archive root.
        return LocalBackend(root / target.bucket if target.bucket and SAFE_KEY.match(target.bucket) else root)
    if target.provider in S3_PROVIDERS:
        if target.provider == StorageProvider.S3_COMPATIBLE and not target.endpoint:
            raise StorageError(
                str(_("An S3-compatible provider needs its endpoint URL.")), code="config", retryable=False
            )
        if target.provider == StorageProvider.QINIU and not (target.endpoint or target.region):
            raise StorageError(str(_("Qiniu needs a region or an endpoint.")), code="config", retryable=False)
        return S3Backend(target, quick=quick)
    raise StorageError(
        str(_("RecDesk cannot write to %(provider)s.")) % {"provider": target.get_provider_display()},
        code="unsupported",
        retryable=False,
    )
