"""The sandbox's Tencent signature checks against the vendors' vectors and official packages as oracles."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib

import TLSSigAPIv2
from tencentcloud.common.abstract_client_async import AbstractClient as AsyncClient

from recordings.sandbox.protocols.tencent_common import md5_sign, tc3_signature, usersig_problem

KEY = "a-usersig-key"
APP = 1400000001


def test_md5_signs_match_the_documented_vectors():
    assert md5_sign("9016607A382749C69D4F4B00C61DD083", 1548247837) == "5400bac77ba6467a8f8ac056f1769f45"
    assert md5_sign("Xz4ZgayTr7rMgWQrH", "1588040109") == "a2dabb362a9b811c0e26953a6276a41c"


def test_tc3_signature_matches_the_vector_and_the_sdk():
    body = b'{"SdkAppId": 1400000001, "TaskId": "exampletaskid"}'
    headers = {"content-type": "application/json", "host": "tiw.tencentcloudapi.com"}
    ours = tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        method="POST",
        path="/",
        query="",
        headers=headers,
        signed_headers=["content-type", "host"],
        body=body,
        timestamp=1551113065,
        date="2019-02-25",
        service="tiw",
    )
    assert ours == "4aa6ab41c41e421fcf5d30116e11ab3ef0e6c4e4c46ca17a08950495da725831"
    sdk = AsyncClient._get_tc3_signature(
        "POST",
        "/",
        "",
        body,
        {
            "Content-Type": "application/json",
            "Host": "tiw.tencentcloudapi.com",
            "X-TC-Timestamp": "1551113065",
        },
        "2019-02-25",
        "tiw",
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        {},
    )
    assert ours == sdk


def test_usersig_made_by_the_official_package_is_accepted():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("tic_record_user_1_1", 3600)
    assert (
        usersig_problem(sig, identifier="tic_record_user_1_1", sdkappid=APP, key=KEY, now_s=int(time.time()))
        is None
    )


def test_usersig_with_userbuf_is_accepted():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig_with_userbuf("u1", 3600, b"room-42")
    assert usersig_problem(sig, identifier="u1", sdkappid=APP, key=KEY, now_s=int(time.time())) is None


def test_usersig_rejections():
    now = int(time.time())
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("u1", 60)
    assert (
        usersig_problem(sig, identifier="u1", sdkappid=APP, key="other", now_s=now)
        == "usersig signature mismatch"
    )
    assert (
        usersig_problem(sig, identifier="u2", sdkappid=APP, key=KEY, now_s=now)
        == "usersig identifier mismatch"
    )
    assert (
        usersig_problem(sig, identifier="u1", sdkappid=1400000002, key=KEY, now_s=now)
        == "usersig sdkappid mismatch"
    )
    assert usersig_problem(sig, identifier="u1", sdkappid=APP, key=KEY, now_s=now + 120) == "usersig expired"
    assert (
        usersig_problem("not*a*sig", identifier="u1", sdkappid=APP, key=KEY, now_s=now)
        == "usersig is not a TLS v2 signature"
    )
    assert usersig_problem("", identifier="u1", sdkappid=APP, key=KEY, now_s=now) == "empty usersig"


def test_usersig_with_a_tampered_expiry_is_rejected():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("u1", 60)
    doc = json.loads(zlib.decompress(base64.b64decode(sig.translate(str.maketrans("*-_", "+/=")))))
    doc["TLS.expire"] = 10**9
    forged = (
        base64.b64encode(zlib.compress(json.dumps(doc).encode()))
        .decode()
        .translate(str.maketrans("+/=", "*-_"))
    )
    now = int(time.time())
    assert (
        usersig_problem(forged, identifier="u1", sdkappid=APP, key=KEY, now_s=now)
        == "usersig signature mismatch"
    )
    assert hashlib.sha256(forged.encode()).hexdigest() != hashlib.sha256(sig.encode()).hexdigest()
