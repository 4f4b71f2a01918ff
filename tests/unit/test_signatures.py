"""Every vendor signature against the examples published in its documents, and against the vendor's
official SDK signer where one exists (SDKs are test-only oracles). One section per vendor."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import httpx
import pytest
import TLSSigAPIv2
from hypothesis import given, settings
from hypothesis import strategies as st
from tencentcloud.common.abstract_client_async import AbstractClient
from volcengine.auth.SignerV4 import SignerV4
from volcengine.auth.SignParam import SignParam
from volcengine.Credentials import Credentials

from recordings.vendors import agora, volcengine, zego
from recordings.vendors.base import AppConfig, CallbackRejected, Mode, StartSpec, TaskRef
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


# ================================================================ Agora: NCS webhook HMAC

# docs.agora.io/en/broadcast-streaming/reference/signature-verification (vendors.md §2): the body with
# "eventMs", byte for byte, and the secret "secret".
AGORA_VECTOR_BODY = (
    b'{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f",'
    b'"notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}'
)
AGORA_VECTOR_V2 = "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"
AGORA_VECTOR_V1 = "033c62f40f687675f17f0f41f91a40c71c0f134c"


def _agora(secret: str = "secret") -> agora.AgoraAdapter:
    config = AppConfig(vendor="agora", app_id="a" * 32, base_url=agora.AgoraAdapter.default_base_url,
                       secrets={"customer_id": "c", "customer_secret": "s", "ncs_secret": secret})  # fmt: skip
    return agora.AgoraAdapter(config, VendorHttp(make_client(config.base_url)))


def test_agora_ncs_signatures_reproduce_the_published_vector():
    assert agora.ncs_signatures("secret", AGORA_VECTOR_BODY) == (AGORA_VECTOR_V2, AGORA_VECTOR_V1)


@pytest.mark.parametrize(
    "headers",
    [
        {"agora-signature-v2": AGORA_VECTOR_V2, "agora-signature": AGORA_VECTOR_V1},
        {"agora-signature-v2": AGORA_VECTOR_V2},
        {"agora-signature": AGORA_VECTOR_V1},
    ],
    ids=["both", "v2-only", "v1-only"],
)
def test_agora_verify_accepts_the_published_vector(headers):
    _agora().verify(AGORA_VECTOR_BODY, headers, {}, datetime.fromtimestamp(1560408533.119 + 5, tz=UTC))


def test_agora_verify_prefers_v2_and_does_not_fall_back_to_a_valid_v1():
    with pytest.raises(CallbackRejected, match="V2"):
        _agora().verify(
            AGORA_VECTOR_BODY,
            {"agora-signature-v2": "0" * 64, "agora-signature": AGORA_VECTOR_V1},
            {},
            datetime.fromtimestamp(1560408533, tz=UTC),
        )


def test_agora_vector_without_eventms_does_not_verify():
    # The docs-preprod copy drops "eventMs" but keeps the hashes (vendors.md §2 "Trap").
    body = AGORA_VECTOR_BODY.replace(b'"eventMs":1560408533119,', b"")
    with pytest.raises(CallbackRejected):
        _agora().verify(
            body, {"agora-signature-v2": AGORA_VECTOR_V2}, {}, datetime.fromtimestamp(1560408533, tz=UTC)
        )


# ================================================================ ZEGO: API md5 and callback sha1


def test_zego_api_signature_reproduces_the_documents_vector():
    # ZG making-api-requests.md: AppId 12345, nonce 4fd24687296dd9f3, ServerSecret, Timestamp 1615186943.
    assert (
        zego.api_signature("12345", "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943)
        == "43e5cfcca828314675f91b001390566a"
    )


def test_zego_callback_signature_reproduces_the_documents_vector():
    # ZG end-callback.md: nonce 123412, timestamp 1470820198, secret "secret" → sorted "1234121470820198secret".
    assert (
        zego.callback_signature("secret", "1470820198", "123412")
        == "5bd59fd62953a8059fb7eaba95720f66d19e4517"
    )


def _zego(**secrets) -> zego.ZegoAdapter:
    config = AppConfig(vendor="zego", app_id="12345", base_url=zego.ZegoAdapter.default_base_url,
                       secrets={"server_secret": "9193cc662a4c0ec135ec71fb57194b38", **secrets})  # fmt: skip
    return zego.ZegoAdapter(config, VendorHttp(make_client(config.base_url)))


def test_zego_verify_accepts_the_documents_vector_and_refuses_it_later():
    body = json.dumps(
        {
            "event_type": 5,
            "task_id": "t",
            "nonce": 123412,
            "timestamp": "1470820198",
            "signature": "5bd59fd62953a8059fb7eaba95720f66d19e4517",
            "sequence": 0,
        }  # fmt: skip
    ).encode()
    adapter = _zego(callback_secret="secret")
    sent = datetime.fromtimestamp(1470820198, tz=UTC)
    adapter.verify(body, {}, {}, sent + timedelta(seconds=10))
    with pytest.raises(CallbackRejected, match="too far"):
        adapter.verify(body, {}, {}, sent + timedelta(minutes=6))


def test_zego_request_carries_the_signature_of_its_own_query():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Code": 0, "Message": "succeed", "RequestId": "r", "Data": {}})

    config = AppConfig(vendor="zego", app_id="12345", base_url="https://cloudrecord-api.zego.im",
                       secrets={"server_secret": "9193cc662a4c0ec135ec71fb57194b38"})  # fmt: skip
    adapter = zego.ZegoAdapter(config, VendorHttp(make_client(config.base_url, httpx.MockTransport(answer))))
    adapter.clock = lambda: 1615186943.9
    adapter.stop(TaskRef("t", "r", Mode.MIXED))
    query = dict(seen[0].url.params)
    assert query["Timestamp"] == "1615186943" and query["SignatureVersion"] == "2.0"
    expected = hashlib.md5(
        f"12345{query['SignatureNonce']}9193cc662a4c0ec135ec71fb57194b38{1615186943}".encode()
    )
    assert query["Signature"] == expected.hexdigest()


# ================================================================ Volcengine: V4 HMAC-SHA256

VOLC_AK = "AKLTMjI2ODVlYzI3ZGY1NGU4ZjhjYWRjMTlmNTM5OTZkYzE"
VOLC_SK = "TnpCak5XWXpZV1U0WkRaaE5ERmxaR0ZpTmpjeVkyUXlZek0wTWpJMU1qWQ=="
VOLC_QUERY = [("Action", "GetRecordTask"), ("Version", "2022-06-01"), ("AppId", "Your_AppId"),
              ("RoomId", "Your_RoomId"), ("TaskId", "Your_TaskId")]  # fmt: skip
VOLC_FORM = "application/x-www-form-urlencoded; charset=utf-8"


def test_volcengine_v4_reproduces_the_vendors_md_vector():
    # vendors.md §4: doc 6348/69859 inputs, signed by the unmodified SDK's sign_only.
    headers = volcengine.sign_v4(
        method="GET", path="/", query=VOLC_QUERY,
        headers={"Host": "rtc.volcengineapi.com", "Content-Type": VOLC_FORM}, body=b"",
        access_key_id=VOLC_AK, secret_access_key=VOLC_SK, region="cn-north-1", service="rtc",
        when=datetime(2020, 12, 30, 8, 18, 5, tzinfo=UTC),
    )  # fmt: skip
    assert headers["X-Date"] == "20201230T081805Z"
    assert headers["Authorization"] == (
        f"HMAC-SHA256 Credential={VOLC_AK}/20201230/cn-north-1/rtc/request, "
        "SignedHeaders=content-type;host;x-content-sha256;x-date, "
        "Signature=b650bac39169258e864c755c583327377aa505c8588f873bd7b3c5a08584942d"
    )


def _sdk_v4(method, host, content_type, query, body, ak, sk, region, when) -> str:
    param = SignParam()
    param.set_method(method)
    param.set_host(host)
    param.set_path("/")
    param.set_query(OrderedDict(query))
    param.set_body(body)
    param.set_header_list(OrderedDict([("Content-Type", content_type), ("Host", host)]))
    param.set_date(when.replace(tzinfo=None))
    return SignerV4.sign_only(param, Credentials(ak, sk, "rtc", region)).authorization


_query_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST"]),
    host=st.sampled_from(["rtc.volcengineapi.com", "127.0.0.1:18105"]),
    content_type=st.sampled_from(["application/json", VOLC_FORM]),
    extra=st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True), _query_values, max_size=4
    ),
    body=st.binary(max_size=300),
    sk=st.text(min_size=1, max_size=60),
    region=st.sampled_from(["cn-north-1", "ap-singapore-1"]),
    when=st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1)),
)
def test_volcengine_v4_matches_the_official_sdk_signer(
    method, host, content_type, extra, body, sk, region, when
):
    query = [("Action", "StartRecord"), ("Version", "2023-11-01"),
             *((k, v) for k, v in extra.items() if k not in {"Action", "Version"})]  # fmt: skip
    ours = volcengine.sign_v4(
        method=method, path="/", query=query, headers={"Host": host, "Content-Type": content_type}, body=body,
        access_key_id=VOLC_AK, secret_access_key=sk, region=region, service="rtc",
        when=when.replace(tzinfo=UTC),
    )  # fmt: skip
    assert ours["Authorization"] == _sdk_v4(
        method, host, content_type, query, body, VOLC_AK, sk, region, when
    )
    assert ours["X-Content-Sha256"] == hashlib.sha256(body).hexdigest()


def test_volcengine_sends_the_bytes_it_signed_under_the_adapters_clock():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ResponseMetadata": {"RequestId": "r"}, "Result": "ok"})

    config = AppConfig(vendor="volcengine", app_id="600000000000000000000000", base_url="https://rtc.volcengineapi.com",
                       secrets={"access_key_id": VOLC_AK, "secret_access_key": VOLC_SK})  # fmt: skip
    adapter = volcengine.VolcengineAdapter(
        config, VendorHttp(make_client(config.base_url, httpx.MockTransport(answer)))
    )
    adapter.clock = lambda: datetime(2020, 12, 30, 8, 18, 5, tzinfo=UTC).timestamp()
    adapter.start(StartSpec(room_id="RoomId1", mode=Mode.WHITEBOARD, intent_key="7"))
    [request] = seen
    assert request.headers["X-Date"] == "20201230T081805Z"
    assert request.headers["X-Content-Sha256"] == hashlib.sha256(request.content).hexdigest()
    when = datetime(2020, 12, 30, 8, 18, 5)
    query = list(httpx.QueryParams(request.url.query.decode()).multi_items())
    assert request.headers["Authorization"] == _sdk_v4(
        "POST",
        "rtc.volcengineapi.com",
        "application/json",
        query,
        request.content,
        VOLC_AK,
        VOLC_SK,
        "cn-north-1",
        when,
    )


def test_volcengine_callback_signature_sorts_the_values_with_the_secret():
    fields = {"EventType": "RecordStarted", "EventData": '{"TaskId":"t"}', "EventTime": "2021-01-27T08:40:12Z",
              "EventId": "e1", "AppId": "app", "Version": "2020-12-01", "Nonce": "n1"}  # fmt: skip
    joined = "".join(sorted([*fields.values(), "secret"]))
    # Sorted as strings: digits before capitals before lower case before "{".
    assert joined == '2020-12-012021-01-27T08:40:12ZRecordStartedappe1n1secret{"TaskId":"t"}'
    assert volcengine.callback_signature(fields, "secret") == hashlib.sha256(joined.encode()).hexdigest()
