"""Who is in a room and when: the scenarios that drive segment production."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from recordings.sandbox import model
from recordings.sandbox.model import ScenarioStream

MINUTE = 60_000
KINDS = frozenset({model.CAMERA, model.SCREEN, model.WHITEBOARD, model.AUDIO})


def classroom(room_id: str) -> list[ScenarioStream]:
    """A 45-minute class, the same for the same room id: teacher camera, a screen-share stretch,
    students coming and going, the whiteboard throughout."""
    rng = random.Random(int.from_bytes(hashlib.sha256(room_id.encode("utf-8")).digest()[:8], "big"))
    teacher = f"teacher_{room_id}"
    share_from = rng.randint(8, 12) * MINUTE
    streams = [
        ScenarioStream(teacher, model.CAMERA, [[0, None]]),
        ScenarioStream(teacher, model.SCREEN, [[share_from, share_from + rng.randint(12, 16) * MINUTE]]),
        ScenarioStream("", model.WHITEBOARD, [[0, None]]),
    ]
    for number in range(1, rng.randint(2, 4) + 1):
        joins = rng.randint(0, 6) * MINUTE + rng.randint(0, 59) * 1000
        if rng.random() < 0.5:
            intervals: list[list[int | None]] = [[joins, None]]
        else:
            # A dropped connection: out for a few minutes, then back until the end.
            leaves = joins + rng.randint(10, 20) * MINUTE
            intervals = [[joins, leaves], [leaves + rng.randint(2, 5) * MINUTE, None]]
        streams.append(ScenarioStream(f"student_{room_id}_{number}", model.CAMERA, intervals))
    return streams


def seed002() -> list[ScenarioStream]:
    """The example of seed 002 (Tencent 实时录制): 6 files across a one-minute pause at 15:00.

    Read as room times with the pause from 900 000 to 960 000 ms: ios_test1's camera from 0 to
    900 000 + 300 000 of replay, pc_test1's camera from 300 000 to 900 000 + 210 000 of replay,
    the whiteboard from 120 000 to the stop at 1 440 000 of replay.
    """
    pause = MINUTE
    return [
        ScenarioStream("ios_test1", model.CAMERA, [[0, 900_000 + pause + 300_000]]),
        ScenarioStream("pc_test1", model.CAMERA, [[300_000, 900_000 + pause + 210_000]]),
        ScenarioStream("", model.WHITEBOARD, [[120_000, None]]),
    ]


def build(room_id: str, scenario: str | list[dict[str, Any]]) -> tuple[str, list[ScenarioStream]]:
    """Resolve the control API's ``scenario`` value to (name, streams); raises ValueError if malformed."""
    if scenario == "classroom":
        return "classroom", classroom(room_id)
    if scenario == "seed002":
        return "seed002", seed002()
    if scenario == "empty":
        return "empty", []
    if not isinstance(scenario, list):
        raise ValueError("scenario must be 'classroom', 'seed002', 'empty' or a list of participants")
    streams = []
    for item in scenario:
        if not isinstance(item, dict):
            raise ValueError("each participant must be an object")
        kind = item.get("kind", model.CAMERA)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        intervals = item.get("intervals", [[0, None]])
        for interval in intervals:
            begin, end = interval
            if (
                not isinstance(begin, int)
                or begin < 0
                or (end is not None and (not isinstance(end, int) or end <= begin))
            ):
                raise ValueError(f"bad interval {interval!r}")
        user_id = "" if kind == model.WHITEBOARD else str(item.get("user_id", ""))
        if kind != model.WHITEBOARD and not user_id:
            raise ValueError("user_id is required for camera, screen and audio streams")
        streams.append(ScenarioStream(user_id, kind, [list(iv) for iv in intervals]))
    return "custom", streams
