"""One contract, every vendor: each adapter in the registry drives a fake vendor built from its
documents' examples (tests/unit/contract/<key>.py, described in tests/unit/contract/__init__.py)
through start → pause → resume → stop → query, maps the vendor's errors, and verifies callbacks.

A vendor without a contract module fails here on purpose: a new adapter is not done until it has one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from types import ModuleType

import httpx
import pytest

from recordings.vendors.base import (
    Ack,
    AppConfig,
    CallbackRejected,
    Capabilities,
    CredentialField,
    FinishReason,
    Mode,
    OptionField,
    SegmentKind,
    StartSpec,
    State,
    TaskRef,
    VendorError,
    VendorEvent,
)
from recordings.vendors.http import CallRecord, VendorHttp, make_client
from recordings.vendors.registry import ADAPTERS
from tests.unit.contract import CallbackCases, CallbackSample, ErrorCase

VENDOR_KEYS = sorted(ADAPTERS)

# The names every part of RecDesk (forms, sandbox provisioning) agrees on, fixed by the helpers' brief.
# A vendor added later declares its own in its contract module (CREDENTIAL_NAMES, DEFAULT_BASE_URL,
# PAUSE_MODES), so adding one never touches this file.
CREDENTIALS = {
    "tencent_tiw": {"secret_id", "secret_key", "usersig_key", "callback_key"},
    "tencent_tic": {"tic_key", "usersig_key"},
    "agora": {"customer_id", "customer_secret", "ncs_secret"},
    "zego": {"server_secret", "callback_secret"},
    "volcengine": {"access_key_id", "secret_access_key", "callback_secret"},
}

DEFAULT_BASE_URLS = {
    "tencent_tiw": "https://tiw.tencentcloudapi.com",
    "tencent_tic": "https://iclass.api.qcloud.com",
    "agora": "https://api.sd-rtn.com",
    "zego": "https://cloudrecord-api.zego.im",
    "volcengine": "https://rtc.volcengineapi.com",
}

# Pause/resume exists on both Tencent APIs and ZEGO, and on Agora's web-page mode only.
PAUSE_MODES = {
    "tencent_tiw": {Mode.INDIVIDUAL, Mode.MIXED},
    "tencent_tic": {Mode.INDIVIDUAL},
    "zego": {Mode.INDIVIDUAL, Mode.MIXED},
    "agora": {Mode.WEB_PAGE},
    "volcengine": set(),
}


def _declared(module: ModuleType, key: str, attribute: str, table: dict):
    value = getattr(module, attribute, table.get(key))
    assert value is not None, f"tests/unit/contract/{key}.py must declare {attribute}"
    return value


CJK = re.compile(r"[\u4e00-\u9fff]")


def contract(key: str) -> ModuleType:
    return importlib.import_module(f"tests.unit.contract.{key}")


def _cases(attribute: str):
    """(key, index) pairs for parametrization. A vendor whose contract module is missing still gets
    one case, which fails when it imports the module: a failure of that vendor, not of the suite."""
    pairs = []
    for key in VENDOR_KEYS:
        try:
            module = contract(key)
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.unit.contract.{key}":
                raise
            pairs.append(pytest.param(key, 0, id=f"{key}-contract-module-missing"))
            continue
        items = getattr(module, attribute)
        if isinstance(items, CallbackCases):
            items = items.samples
        for index, item in enumerate(items):
            label = getattr(item, "name", None) or getattr(item, "mode", None) or str(item)
            pairs.append(pytest.param(key, index, id=f"{key}-{label}-{index}"))
    return pairs


class Harness:
    """An adapter talking to the vendor's FakeVendor, with every call recorded."""

    def __init__(self, key: str, handler=None) -> None:
        self.key = key
        self.contract = contract(key)
        self.config: AppConfig = self.contract.CONFIG
        self.fake = self.contract.FakeVendor() if handler is None else None
        self.records: list[CallRecord] = []
        client = make_client(self.config.base_url, httpx.MockTransport(handler or self.fake))
        self.adapter = ADAPTERS[key](self.config, VendorHttp(client, recorder=self.records.append))

    def spec(self, index: int) -> StartSpec:
        spec: StartSpec = self.contract.START_SPECS[index]
        return dataclasses.replace(spec, options=self.adapter.clean_options(spec.mode, spec.options))

    def assert_no_secret_in(self, *texts: str) -> None:
        for name, value in self.config.secrets.items():
            for text in texts:
                assert value not in text, f"secret {name} leaked"


def _no_http(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"callback handling must not call the vendor: {request.method} {request.url}")


def _segment_tuples(segments) -> list[tuple]:
    return sorted(
        (
            s.user_id,
            SegmentKind(s.kind),
            s.play_offset_ms if s.play_offset_ms is not None else s.started_at_ms,
            s.duration_ms,
        )
        for s in segments
    )


# ---------------------------------------------------------------- declarations


@pytest.mark.parametrize("key", VENDOR_KEYS)
def test_adapter_declares_what_the_app_forms_and_sandbox_rely_on(key):
    cls = ADAPTERS[key]
    module = contract(key)

    assert cls.key == key
    assert str(cls.label)
    credentials = set(_declared(module, key, "CREDENTIAL_NAMES", CREDENTIALS))
    assert cls.default_base_url == _declared(module, key, "DEFAULT_BASE_URL", DEFAULT_BASE_URLS)
    assert all(isinstance(f, CredentialField) for f in cls.credential_fields)
    assert {f.name for f in cls.credential_fields} == credentials
    assert all(str(f.label) for f in cls.credential_fields)
    assert set(module.CONFIG.secrets) <= credentials
    assert module.CONFIG.vendor == key

    caps: Capabilities = cls.capabilities
    assert caps.modes == {spec.mode for spec in module.START_SPECS}
    assert len(module.START_SPECS) == len(caps.modes)
    assert set(module.EXPECTED) == set(caps.modes)
    assert caps.pause_modes == set(_declared(module, key, "PAUSE_MODES", PAUSE_MODES))
    assert caps.layout_modes <= caps.modes and caps.whiteboard_modes <= caps.modes


@pytest.mark.parametrize(("key", "index"), _cases("START_SPECS"))
def test_option_fields_are_translatable_and_clean_options_keeps_valid_input(key, index):
    harness = Harness(key)
    raw: StartSpec = harness.contract.START_SPECS[index]
    fields = harness.adapter.option_fields(raw.mode)
    assert all(isinstance(f, OptionField) for f in fields)
    assert len({f.name for f in fields}) == len(fields)
    assert all(str(f.label) for f in fields)
    cleaned = harness.adapter.clean_options(raw.mode, raw.options)
    assert isinstance(cleaned, dict)
    # Cleaning is idempotent: what the form stored must pass again when the task starts.
    assert harness.adapter.clean_options(raw.mode, cleaned) == cleaned


# ---------------------------------------------------------------- the recording's life


@pytest.mark.parametrize(("key", "index"), _cases("START_SPECS"))
def test_start_pause_resume_stop_query(key, index):
    harness = Harness(key)
    adapter, fake = harness.adapter, harness.fake
    spec = harness.spec(index)
    expected = harness.contract.EXPECTED[spec.mode]
    can_pause = adapter.capabilities.can_pause(spec.mode)
    assert ("pause" in expected) == can_pause and ("resume" in expected) == can_pause
    steps = ["start", "pause", "resume", "stop", "final"] if can_pause else ["start", "stop", "final"]
    assert all(isinstance(expected[step], State) for step in steps)

    ref = adapter.start(spec)
    assert isinstance(ref, TaskRef)
    assert ref.task_id and ref.mode == spec.mode and ref.room_id == spec.room_id
    assert fake.started_count == 1
    assert adapter.query(ref).state == expected["start"]

    if can_pause:
        adapter.pause(ref)
        assert adapter.query(ref).state == expected["pause"]
        adapter.resume(ref)
        assert adapter.query(ref).state == expected["resume"]

    adapter.stop(ref)
    assert adapter.query(ref).state == expected["stop"]
    final = adapter.query(ref)
    assert final.state == expected["final"]
    assert final.finish_reason == expected["finish_reason"]
    assert isinstance(final.finish_reason, FinishReason)
    assert _segment_tuples(final.segments) == sorted(expected["segments"])
    assert all(s.file_id for s in final.segments)
    assert len({s.file_id for s in final.segments}) == len(final.segments)

    # One VendorCall row per request, each naming its action and its request id.
    assert len(harness.records) == len(fake.requests)
    assert all(r.action and r.request_id for r in harness.records)
    assert all(not r.error_kind for r in harness.records)
    harness.assert_no_secret_in(*(repr(r) for r in harness.records))


@pytest.mark.parametrize(("key", "index"), _cases("START_SPECS"))
def test_recover_start_after_a_start_that_arrived_makes_no_second_recording(key, index):
    harness = Harness(key)
    spec = harness.spec(index)
    ref = harness.adapter.start(spec)
    try:
        recovered = harness.adapter.recover_start(spec)
    except VendorError as exc:
        assert exc.explanation_en and CJK.search(exc.explanation_zh)
    else:
        assert recovered is not None and recovered.task_id == ref.task_id
    assert harness.fake.started_count == 1


@pytest.mark.parametrize("key", VENDOR_KEYS)
def test_check_connection_and_register_callback_answer_in_plain_words(key):
    harness = Harness(key)
    assert str(harness.adapter.check_connection()).strip()
    if harness.adapter.capabilities.registers_callback:
        assert str(harness.adapter.register_callback("https://recdesk.example/hooks/x")).strip()
    harness.assert_no_secret_in(*(repr(r) for r in harness.records))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("key", "index"), _cases("ERROR_CASES"))
def test_vendor_errors_become_explained_vendor_errors(key, index):
    starter = Harness(key)
    ref = starter.adapter.start(starter.spec(0))
    case: ErrorCase = starter.contract.ERROR_CASES[index]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(case.status, content=case.content, headers={"Content-Type": "application/json"})

    harness = Harness(key, handler=answer)
    with pytest.raises(VendorError) as caught:
        harness.adapter.query(ref)
    error = caught.value
    assert (error.code, error.kind, error.retryable) == (case.code, case.kind, case.retryable)
    assert error.explanation_en and error.fix_en and error.fix_zh
    assert CJK.search(error.explanation_zh)
    [record] = harness.records
    assert record.vendor_code == case.code and record.error_kind == case.kind
    assert record.http_status == case.status
    harness.assert_no_secret_in(str(error), error.message, repr(record))


# ---------------------------------------------------------------- callbacks


def _callbacks(key: str) -> CallbackCases:
    cases = contract(key).CALLBACKS
    assert isinstance(cases, CallbackCases)
    return cases


def _verify(harness: Harness, sample: CallbackSample) -> None:
    harness.adapter.verify(sample.body, dict(sample.headers), dict(sample.query), sample.now)


def _parse(harness: Harness, sample: CallbackSample) -> list[VendorEvent]:
    return harness.adapter.parse(sample.body, dict(sample.headers), dict(sample.query))


@pytest.mark.parametrize(("key", "index"), _cases("CALLBACKS"))
def test_valid_callback_is_verified_and_parsed(key, index):
    harness = Harness(key, handler=_no_http)
    sample = _callbacks(key).samples[index]
    _verify(harness, sample)
    events = _parse(harness, sample)
    assert len(events) == len(sample.expected)
    for event, expected in zip(events, sample.expected, strict=True):
        assert isinstance(event, VendorEvent)
        assert event.delivery_key
        assert (event.kind, event.task_id, event.state, event.finish_reason) == (
            expected.kind,
            expected.task_id,
            expected.state,
            expected.finish_reason,
        )
        assert event.occurred_at == expected.occurred_at
        assert event.occurred_at.tzinfo is not None
        assert len(event.segments) == expected.segment_count
    assert len({e.delivery_key for e in events}) == len(events)


@pytest.mark.parametrize(("key", "index"), _cases("CALLBACKS"))
def test_redelivered_callback_keeps_its_delivery_key(key, index):
    harness = Harness(key, handler=_no_http)
    cases = _callbacks(key)
    sample = cases.samples[index]
    again = cases.redelivered(sample)
    _verify(harness, again)
    assert [e.delivery_key for e in _parse(harness, again)] == [
        e.delivery_key for e in _parse(harness, sample)
    ]


@pytest.mark.parametrize("variant", ["tampered", "wrong_key", "expired", "unsigned"])
@pytest.mark.parametrize(("key", "index"), _cases("CALLBACKS"))
def test_forged_or_stale_callback_is_rejected(key, index, variant):
    harness = Harness(key, handler=_no_http)
    cases = _callbacks(key)
    forged = getattr(cases, variant)(cases.samples[index])
    with pytest.raises(CallbackRejected) as caught:
        _verify(harness, forged)
    assert caught.value.reason.strip()
    harness.assert_no_secret_in(caught.value.reason)


@pytest.mark.parametrize("key", VENDOR_KEYS)
def test_ack_is_what_the_vendor_expects(key):
    harness = Harness(key, handler=_no_http)
    ack = harness.adapter.ack()
    expected: Ack = _callbacks(key).expected_ack
    assert isinstance(ack, Ack)
    assert (ack.status, ack.content_type) == (expected.status, expected.content_type)
    if expected.body:
        assert json.loads(ack.body) == json.loads(expected.body)
    else:
        assert ack.body == expected.body
