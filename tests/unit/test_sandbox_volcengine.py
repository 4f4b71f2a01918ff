"""The sandbox's Volcengine protocol, checked against the vendor SDK's signer and the doc's vectors."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import pytest
from volcengine.auth.SignerV4 import SignerV4
from volcengine.auth.SignParam import SignParam
from volcengine.Credentials import Credentials

from recordings.sandbox import model
from recordings.sandbox.protocols import volcengine as vo

# Inputs of doc 6348/69859 as recorded in vendors.md §4, and the signature the SDK computes.
DOC_AK = "AKLTMjI2ODVlYzI3ZGY1NGU4ZjhjYWRjMTlmNTM5OTZkYzE"
DOC_SK = "TnpCak5XWXpZV1U0WkRaaE5ERmxaR0ZpTmpjeVkyUXlZek0wTWpJMU1qWQ=="
DOC_QUERY = [
    ("Action", "GetRecordTask"),
    ("Version", "2022-06-01"),
    ("AppId", "Your_AppId"),
    ("RoomId", "Your_RoomId"),
    ("TaskId", "Your_TaskId"),
]
DOC_SIGNATURE = "b650bac39169258e864c755c583327377aa505c8588f873bd7b3c5a08584942d"
DOC_X_DATE = "20201230T081805Z"
DOC_NOW = datetime(2020, 12, 30, 8, 18, 5, tzinfo=UTC)


def doc_headers() -> dict[str, str]:
    return {
        "Host": "rtc.volcengineapi.com",
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "X-Date": DOC_X_DATE,
        "X-Content-Sha256": hashlib.sha256(b"").hexdigest(),
        "Authorization": (
            f"HMAC-SHA256 Credential={DOC_AK}/20201230/cn-north-1/rtc/request, "
            f"SignedHeaders=content-type;host;x-content-sha256;x-date, Signature={DOC_SIGNATURE}"
        ),
    }


def lookup(ak: str) -> str | None:
    return {DOC_AK: DOC_SK}.get(ak)


def verify(headers, *, body=b"", query=DOC_QUERY, method="GET", now=DOC_NOW):
    return vo.verify_request(
        method=method,
        path="/",
        query_pairs=query,
        headers=headers,
        body=body,
        secret_for_access_key=lookup,
        now=now,
    )


def test_the_doc_vector_verifies():
    assert verify(doc_headers()) == (DOC_AK, None)


def test_a_changed_query_value_is_signature_does_not_match():
    query = [*DOC_QUERY[:-1], ("TaskId", "Other")]
    ak, error = verify(doc_headers(), query=query)
    assert error is vo.SIGNATURE_DOES_NOT_MATCH
    assert (error.http_status, error.code_n) == (401, 100010)


def test_a_tampered_body_is_refused_even_with_the_original_body_hash_header():
    ak, error = verify(doc_headers(), body=b"{}")
    assert error is vo.SIGNATURE_DOES_NOT_MATCH


def test_a_wrong_secret_is_refused():
    headers = doc_headers()
    _, error = vo.verify_request(
        method="GET",
        path="/",
        query_pairs=DOC_QUERY,
        headers=headers,
        body=b"",
        secret_for_access_key=lambda ak: "not-the-secret",
        now=DOC_NOW,
    )
    assert error.code == "SignatureDoesNotMatch"


def test_an_unknown_access_key_is_invalid_access_key():
    _, error = vo.verify_request(
        method="GET",
        path="/",
        query_pairs=DOC_QUERY,
        headers=doc_headers(),
        body=b"",
        secret_for_access_key=lambda ak: None,
        now=DOC_NOW,
    )
    assert (error.code, error.code_n, error.http_status) == ("InvalidAccessKey", 100009, 401)
    assert DOC_AK in error.message


@pytest.mark.parametrize("offset", [timedelta(minutes=15, seconds=1), -timedelta(minutes=15, seconds=1)])
def test_a_signature_outside_fifteen_minutes_is_expired(offset):
    _, error = verify(doc_headers(), now=DOC_NOW + offset)
    assert (error.code, error.code_n, error.http_status) == ("InvalidTimestamp", 100006, 400)


def test_a_signature_just_inside_the_window_passes():
    assert verify(doc_headers(), now=DOC_NOW + timedelta(minutes=15))[1] is None


def test_missing_x_date_and_authorization_are_missing_request_info():
    headers = doc_headers()
    del headers["X-Date"]
    assert verify(headers)[1].code == "MissingRequestInfo"
    headers = doc_headers()
    del headers["Authorization"]
    assert verify(headers)[1].message == "The request is missing Authorization information."


def test_a_scope_with_another_region_is_refused():
    headers = doc_headers()
    headers["Authorization"] = headers["Authorization"].replace("cn-north-1", "ap-singapore-1")
    assert verify(headers)[1] is vo.SIGNATURE_DOES_NOT_MATCH


def test_headers_are_matched_case_insensitively():
    headers = {name.lower(): value for name, value in doc_headers().items()}
    assert verify(headers) == (DOC_AK, None)


def test_a_default_port_on_host_is_ignored_like_the_signer_does():
    headers = doc_headers()
    headers["Host"] = "rtc.volcengineapi.com:443"
    assert verify(headers)[1] is None


def sdk_sign(*, method, host, query, body, date):
    param = SignParam()
    param.set_method(method)
    param.set_host(host)
    param.set_path("/")
    param.set_query(OrderedDict(query))
    param.set_body(body)
    param.set_date(date)
    headers = OrderedDict([("Host", host), ("Content-Type", "application/json")])
    param.set_header_list(headers)
    result = SignerV4.sign_only(param, Credentials("AKsandbox", "SK/with+odd=chars", "rtc", "cn-north-1"))
    return headers, result


@pytest.mark.parametrize(
    "query",
    [
        {"Action": "StartWBRecord", "Version": "2020-12-01"},
        {"Action": "GetRecordTask", "Version": "2023-11-01", "RoomId": "room 1/ü", "TaskId": "a~b.c"},
    ],
)
def test_the_official_sdk_signer_is_accepted(query):
    body = json.dumps({"AppId": "app", "RoomId": "r", "TaskId": "t", "UserId": "u"}).encode()
    date = datetime(2026, 5, 1, 9, 30, 0)
    headers, result = sdk_sign(method="POST", host="127.0.0.1:18105", query=query, body=body, date=date)
    headers = {**headers, "Authorization": result.authorization}
    ak, error = vo.verify_request(
        method="POST",
        path="/",
        query_pairs=list(query.items()),
        headers=headers,
        body=body,
        secret_for_access_key={"AKsandbox": "SK/with+odd=chars"}.get,
        now=date.replace(tzinfo=UTC),
    )
    assert (ak, error) == ("AKsandbox", None)
    # …and the same request with a different body is not.
    _, error = vo.verify_request(
        method="POST",
        path="/",
        query_pairs=list(query.items()),
        headers=headers,
        body=body + b" ",
        secret_for_access_key={"AKsandbox": "SK/with+odd=chars"}.get,
        now=date.replace(tzinfo=UTC),
    )
    assert error is vo.SIGNATURE_DOES_NOT_MATCH


def test_error_envelope_has_the_response_metadata_error_shape():
    body = vo.envelope(
        action="StopRecord", version="2023-11-01", request_id="rid", error=vo.SIGNATURE_DOES_NOT_MATCH
    )
    assert body == {
        "ResponseMetadata": {
            "RequestId": "rid",
            "Action": "StopRecord",
            "Version": "2023-11-01",
            "Service": "rtc",
            "Region": "cn-north-1",
            "Error": {
                "CodeN": 100010,
                "Code": "SignatureDoesNotMatch",
                "Message": vo.SIGNATURE_DOES_NOT_MATCH.message,
            },
        }
    }
    assert "Result" not in body


def test_success_envelope_matches_the_seed_example():
    body = vo.envelope(action="StartWBRecord", version="2020-12-01", request_id="Your_RequestId", result="ok")
    assert body == {
        "ResponseMetadata": {
            "RequestId": "Your_RequestId",
            "Action": "StartWBRecord",
            "Version": "2020-12-01",
            "Service": "rtc",
            "Region": "cn-north-1",
        },
        "Result": "ok",
    }


def test_callback_signature_is_sha256_of_sorted_values_and_secret():
    fields = {
        "EventType": "RecordStarted",
        "EventData": '{"TaskId":"t"}',
        "EventTime": "2026-05-01T09:30:00.000Z",
        "EventId": "e1",
        "AppId": "app",
        "Version": "2020-12-01",
        "Nonce": "n0",
    }
    values = sorted([*fields.values(), "cb-secret"])
    expected = hashlib.sha256("".join(values).encode()).hexdigest()
    assert vo.callback_signature(fields, "cb-secret") == expected
    assert vo.callback_signature(fields, "other") != expected


def test_callback_body_carries_event_data_as_a_json_string_and_verifies():
    body = vo.callback_body(
        event_type=vo.EVENT_RECORD_STOPPED,
        event_data={"AppId": "app", "RoomId": "r", "TaskId": "t"},
        event_time="2026-05-01T09:30:00.000Z",
        event_id="e1",
        app_id="app",
        nonce="n1",
        secret="s3",
    )
    assert isinstance(body["EventData"], str)
    assert json.loads(body["EventData"])["TaskId"] == "t"
    unsigned = {k: v for k, v in body.items() if k != "Signature"}
    assert body["Signature"] == vo.callback_signature(unsigned, "s3")


def test_canonical_query_escapes_like_rfc3986():
    assert vo.canonical_query([("b", "x y"), ("a", "1+2"), ("a", "0")]) == "a=1%2B2&a=0&b=x%20y"


@pytest.mark.parametrize(
    ("state", "reason", "status", "stop_reason"),
    [
        (model.PREPARED, None, 1, ""),
        (model.RECORDING, None, 2, ""),
        (model.STOPPED, model.REASON_API, 2, ""),
        (model.FINISHED, model.REASON_API, 3, "StopByAPI"),
        (model.FINISHED, model.REASON_IDLE, 3, "IdleTimeOut"),
        (model.FAILED, model.REASON_ERROR, 4, "StartTaskFailed"),
    ],
)
def test_record_task_status_and_stop_reason(state, reason, status, stop_reason):
    task = model.Task(
        vendor="volcengine", app_id="a", task_id="t", room_id="r", state=state, finish_reason=reason
    )
    protocol = vo.VolcengineProtocol(core=None)
    assert protocol.vendor_state(task) == str(status)
    assert protocol._stop_reason(task) == stop_reason


def test_whiteboard_plan_renders_the_page_throughout():
    task = model.Task(vendor="volcengine", app_id="a", task_id="t", room_id="r", mode="whiteboard")
    room = model.Room(vendor="volcengine", app_id="a", room_id="r", streams=[])
    [plan] = vo.VolcengineProtocol(core=None).plan_streams(task, room)
    assert (plan.kind, plan.presence, plan.formats) == (model.WHITEBOARD, ((0, None),), ("mp4",))
