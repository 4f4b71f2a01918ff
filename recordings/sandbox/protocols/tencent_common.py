"""What the two Tencent protocols share: UserSig (TLS sig v2) checks, TC3-HMAC-SHA256, md5 signs.

Written from the algorithms as Tencent documents them (seed 002/004, vendors.md §1), not from the
adapters: the PyPI packages tls-sig-api-v2 and tencentcloud-sdk-python-common are test oracles only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from recordings.sandbox import model

# VideoType of seed 002/004: 0 camera, 1 screen share, 2 whiteboard, 3 mixed, 4 pure audio.
VIDEO_TYPE = {model.CAMERA: 0, model.SCREEN: 1, model.WHITEBOARD: 2, model.MIXED: 3, model.AUDIO: 4}


def md5_sign(key: str, expire_time: int | str) -> str:
    """Legacy TIC request/callback sign and TIW callback Sign: md5(key + expire_time), lowercase hex."""
    return hashlib.md5(f"{key}{expire_time}".encode()).hexdigest()


# ---- UserSig (TLS sig v2) ----------------------------------------------------------------------------
def _usersig_digest(
    key: str, identifier: str, sdkappid: int, issued: int, expire: int, userbuf: str | None
) -> str:
    content = (
        f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{issued}\nTLS.expire:{expire}\n"
    )
    if userbuf is not None:
        content += f"TLS.userbuf:{userbuf}\n"
    return base64.b64encode(hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()).decode()


def usersig_problem(usersig: str, *, identifier: str, sdkappid: int, key: str, now_s: int) -> str | None:
    """Why ``usersig`` would not let ``identifier`` into ``sdkappid``'s rooms, or None if it would.

    A v2 UserSig is zlib-compressed JSON in base64 with ``+/=`` swapped for ``*-_``; its TLS.sig is
    base64(HMAC-SHA256(key, "TLS.identifier:..\\nTLS.sdkappid:..\\nTLS.time:..\\nTLS.expire:..\\n")).
    """
    if not usersig or not key:
        return "empty usersig"
    try:
        raw = base64.b64decode(usersig.translate(str.maketrans("*-_", "+/=")), validate=True)
        doc = json.loads(zlib.decompress(raw))
    except (binascii.Error, zlib.error, ValueError):
        return "usersig is not a TLS v2 signature"
    if not isinstance(doc, dict) or doc.get("TLS.ver") != "2.0":
        return "unsupported usersig version"
    try:
        issued = int(doc["TLS.time"])
        expire = int(doc["TLS.expire"])
        signed_appid = int(doc["TLS.sdkappid"])
        signed_identifier = str(doc["TLS.identifier"])
        signature = str(doc["TLS.sig"])
    except (KeyError, TypeError, ValueError):
        return "usersig lacks fields"
    if signed_identifier != identifier:
        return "usersig identifier mismatch"
    if signed_appid != int(sdkappid):
        return "usersig sdkappid mismatch"
    if issued + expire < now_s:
        return "usersig expired"
    expected = _usersig_digest(key, signed_identifier, signed_appid, issued, expire, doc.get("TLS.userbuf"))
    if not hmac.compare_digest(expected, signature):
        return "usersig signature mismatch"
    return None


# ---- TC3-HMAC-SHA256 --------------------------------------------------------------------------------
TC3_MAX_SKEW_S = 300
_AUTH = re.compile(
    r"^TC3-HMAC-SHA256\s+Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s]+)/tc3_request,"
    r"\s*SignedHeaders=(?P<headers>[a-z0-9\-;]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Tc3Failure(Exception):
    code: str
    message: str


def tc3_signature(
    secret_key: str,
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    signed_headers: list[str],
    body: bytes,
    timestamp: int,
    date: str,
    service: str,
) -> str:
    canonical_headers = "".join(
        f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed_headers
    )
    canonical = "\n".join(
        [
            method,
            path or "/",
            query,
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, service.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify_tc3(request, *, service: str, secret_for, now_s: int) -> str:
    """Check a TC3-signed request as Tencent's gateway does; returns the SecretId or raises Tc3Failure.

    ``secret_for(secret_id)`` returns the SecretKey or None. Order of checks follows the common error
    codes: malformed Authorization, unknown SecretId, stale timestamp (±5 min), wrong signature.
    """
    authorization = request.header("Authorization").strip()
    if not authorization:
        raise Tc3Failure(
            "AuthFailure.SignatureFailure", "The request is not signed: the Authorization header is missing."
        )
    match = _AUTH.match(authorization)
    if not match or match["service"] != service:
        raise Tc3Failure(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header does not conform to the TC3-HMAC-SHA256 standard.",
        )
    timestamp_text = request.header("X-TC-Timestamp")
    if not timestamp_text.isdigit():
        raise Tc3Failure("MissingParameter", "The request is missing the X-TC-Timestamp header.")
    secret_key = secret_for(match["id"])
    if secret_key is None:
        raise Tc3Failure(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        )
    timestamp = int(timestamp_text)
    if abs(now_s - timestamp) > TC3_MAX_SKEW_S:
        raise Tc3Failure(
            "AuthFailure.SignatureExpire",
            f"Signature expired. Timestamp of the request ({timestamp}) must be within 5 minutes of the server time ({now_s}).",
        )
    signed = match["headers"].split(";")
    if "content-type" not in signed or "host" not in signed:
        raise Tc3Failure(
            "AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host."
        )
    headers = {name: request.header(name) for name in signed}
    body = request.body
    if request.header("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD":
        body = b"UNSIGNED-PAYLOAD"
    query = request.query_string if request.method == "GET" else ""
    expected = tc3_signature(
        secret_key,
        method=request.method,
        path=request.path,
        query=query,
        headers=headers,
        signed_headers=signed,
        body=body,
        timestamp=timestamp,
        date=match["date"],
        service=service,
    )
    date_of_timestamp = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    if not hmac.compare_digest(expected, match["sig"]) or match["date"] != date_of_timestamp:
        raise Tc3Failure(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        )
    return match["id"]
