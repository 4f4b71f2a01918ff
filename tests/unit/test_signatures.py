"""Every vendor signature against the examples published in its documents, and against the vendor's
official SDK signer where one exists (SDKs are test-only oracles). One section per vendor."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime
from types import SimpleNamespace
from unittest import mock

import httpx
import pytest
import TLSSigAPIv2
from hypothesis import given, settings
from hypothesis import strategies as st
from tencentcloud.common.abstract_client_async import AbstractClient

from recordings.vendors.base import AppConfig, CallbackRejected, Mode, StartSpec
from recordings.vendors.http import VendorHttp, make_client
from recordings.vendors.tencent_common import md5_hex, user_sig
from recordings.vendors.tencent_tic import TencentTicAdapter, sign
from recordings.vendors.tencent_tiw import TencentTiwAdapter, tc3_headers, tc3_signature

# ================================================================ Tencent TIW: TC3-HMAC-SHA256


def test_tc3_reproduces_the_vendors_md_vector():
    # vendors.md §1c: computed with the official SDK on these inputs.
    assert (
        tc3_signature(
            secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            service="tiw",
            host="tiw.tencentcloudapi.com",
            content_type="application/json",
            payload=b'{"SdkAppId": 1400000001, "TaskId": "exampletaskid"}',
            timestamp=1551113065,
        )
        == "4aa6ab41c41e421fcf5d30116e11ab3ef0e6c4e4c46ca17a08950495da725831"
    )


def _sdk_tc3(secret_key: str, host: str, payload: bytes, timestamp: int) -> str:
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    headers = {"Content-Type": "application/json", "Host": host, "X-TC-Timestamp": str(timestamp)}
    return AbstractClient._get_tc3_signature("POST", "/", "", payload, headers, date, "tiw", secret_key, {})


@settings(max_examples=200, deadline=None)
@given(
    secret_key=st.text(min_size=1, max_size=40),
    host=st.sampled_from(["tiw.tencentcloudapi.com", "tiw.intl.tencentcloudapi.com", "127.0.0.1:18101"]),
    payload=st.binary(max_size=300),
    # Across midnight UTC boundaries too: the date in the scope is the UTC date of the timestamp.
    timestamp=st.integers(min_value=1_500_000_000, max_value=2_000_000_000),
)
def test_tc3_matches_the_official_sdk_signer(secret_key, host, payload, timestamp):
    ours = tc3_signature(
        secret_key=secret_key,
        service="tiw",
        host=host,
        content_type="application/json",
        payload=payload,
        timestamp=timestamp,
    )
    assert ours == _sdk_tc3(secret_key, host, payload, timestamp)


def test_tc3_authorization_header_names_credential_scope_and_signed_headers():
    payload = b'{"SdkAppId":1400000001,"TaskId":"t"}'
    headers = tc3_headers(
        secret_id="AKIDEXAMPLE",
        secret_key="secret",
        host="tiw.tencentcloudapi.com",
        action="DescribeOnlineRecord",
        region="ap-singapore",
        payload=payload,
        timestamp=1551113065,
    )
    signature = _sdk_tc3("secret", "tiw.tencentcloudapi.com", payload, 1551113065)
    assert headers["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/tiw/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    assert headers["X-TC-Action"] == "DescribeOnlineRecord"
    assert headers["X-TC-Version"] == "2019-09-19"
    assert headers["X-TC-Timestamp"] == "1551113065"
    assert headers["X-TC-Region"] == "ap-singapore"


def test_tiw_signs_the_exact_bytes_it_sends():
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Response": {"Callback": "", "CallbackKey": "", "RequestId": "r"}})

    config = AppConfig(
        vendor="tencent_tiw",
        app_id="1400000001",
        base_url="https://tiw.tencentcloudapi.com",
        secrets={"secret_id": "AKIDEXAMPLE", "secret_key": "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"},
    )
    http = VendorHttp(make_client(config.base_url, httpx.MockTransport(vendor)))
    TencentTiwAdapter(config, http).check_connection()
    [request] = seen
    timestamp = int(request.headers["X-TC-Timestamp"])
    signature = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    assert signature == _sdk_tc3(
        config.secrets["secret_key"], "tiw.tencentcloudapi.com", request.content, timestamp
    )


# ================================================================ Tencent TIW: callback Sign


def test_tiw_callback_sign_reproduces_the_documents_vector():
    # TIW-EV (vendors.md §1b): md5("Xz4ZgayTr7rMgWQrH" + "1588040109").
    assert md5_hex("Xz4ZgayTr7rMgWQrH1588040109") == "a2dabb362a9b811c0e26953a6276a41c"


def test_tiw_callback_with_the_documents_vector_verifies_until_expire_time():
    config = AppConfig(
        vendor="tencent_tiw",
        app_id="1400000001",
        base_url="https://tiw.tencentcloudapi.com",
        secrets={"callback_key": "Xz4ZgayTr7rMgWQrH"},
    )
    adapter = TencentTiwAdapter(config, VendorHttp(make_client(config.base_url)))
    body = json.dumps(
        {
            "EventData": {
                "RecordUserId": "tic_record_user_1253_01",
                "RoomId": 1253,
                "TaskId": "bj0mt2l23osdj300hl30",
            },
            "EventType": "OnlineRecordStarted",
            "ExpireTime": 1588040109,
            "SdkAppId": 1400000001,
            "Sign": "a2dabb362a9b811c0e26953a6276a41c",
            "Timestamp": 1575545412,
        }
    ).encode()
    adapter.verify(body, {}, {}, datetime.fromtimestamp(1588040109, tz=UTC))
    with pytest.raises(CallbackRejected, match="expired"):
        adapter.verify(body, {}, {}, datetime.fromtimestamp(1588040110, tz=UTC))


# ================================================================ Tencent TIC (legacy): URL sign


def test_tic_sign_reproduces_seed_004_example():
    # Seed 004 §3: md5(9016607A382749C69D4F4B00C61DD0831548247837).
    assert sign("9016607A382749C69D4F4B00C61DD083", 1548247837) == "5400bac77ba6467a8f8ac056f1769f45"


# ================================================================ Tencent UserSig (TLS signature v2)

USERSIG_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"


def _reference_usersig(sdk_app_id: int, key: str, identifier: str, expire: int, now: int) -> str:
    # tls-sig-api-v2 reads the wall clock; freeze it for this module only.
    with mock.patch.object(TLSSigAPIv2, "time", SimpleNamespace(time=lambda: now)):
        return TLSSigAPIv2.TLSSigAPIv2(sdk_app_id, key).gen_sig(identifier, expire)


def _decode(sig: str) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(sig.translate(str.maketrans("*-_", "+/=")))))


def test_usersig_equals_tls_sig_api_v2_with_the_clock_frozen():
    ours = user_sig(1400000000, USERSIG_KEY, "tic_record_user_1234_101", 5 * 3600, 1700000000)
    reference = _reference_usersig(1400000000, USERSIG_KEY, "tic_record_user_1234_101", 5 * 3600, 1700000000)
    assert ours == reference
    fields = _decode(ours)
    assert fields == _decode(reference)
    assert fields["TLS.identifier"] == "tic_record_user_1234_101"
    assert (fields["TLS.sdkappid"], fields["TLS.time"], fields["TLS.expire"]) == (
        1400000000,
        1700000000,
        18000,
    )


@settings(max_examples=100, deadline=None)
@given(
    sdk_app_id=st.integers(min_value=1, max_value=2**32 - 1),
    key=st.text(alphabet="0123456789abcdef", min_size=16, max_size=64),
    identifier=st.text(min_size=1, max_size=60),
    expire=st.integers(min_value=60, max_value=180 * 86400),
    now=st.integers(min_value=1_500_000_000, max_value=2_000_000_000),
)
def test_usersig_matches_tls_sig_api_v2_for_any_input(sdk_app_id, key, identifier, expire, now):
    assert user_sig(sdk_app_id, key, identifier, expire, now) == _reference_usersig(
        sdk_app_id, key, identifier, expire, now
    )


def test_tic_start_sends_a_usersig_that_outlives_the_longest_recording():
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"error_code": 0, "error_msg": "ok", "task_id": "g68cee8e90jcq4ogg8jb"}
        )

    config = AppConfig(
        vendor="tencent_tic",
        app_id="1400127115",
        base_url="https://iclass.api.qcloud.com",
        secrets={"tic_key": "9016607A382749C69D4F4B00C61DD083", "usersig_key": USERSIG_KEY},
        max_duration_seconds=6 * 3600,
    )
    adapter = TencentTicAdapter(config, VendorHttp(make_client(config.base_url, httpx.MockTransport(vendor))))
    adapter.start(StartSpec(room_id="100241", mode=Mode.INDIVIDUAL, intent_key="100"))
    body = json.loads(seen[0].content)
    assert body["user_id"] == "tic_record_user_100241_100"
    fields = _decode(body["user_sig"])
    assert fields["TLS.identifier"] == "tic_record_user_100241_100"
    assert fields["TLS.expire"] > 6 * 3600
    assert body["user_sig"] == _reference_usersig(
        1400127115, USERSIG_KEY, "tic_record_user_100241_100", fields["TLS.expire"], fields["TLS.time"]
    )
