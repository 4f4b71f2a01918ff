"""What the browser tests ask of the synchronized player, through the page itself.

The player exposes `window.recdeskPlayer.positions()`: for each tile, the playhead and where its video
is on the same axis (segment offset + currentTime), read in one script turn so they are comparable.
"""

from __future__ import annotations

import time

from django.utils import translation

# The product's promise: after a seek, every lane agrees with the playhead within 0.3 s.
SYNC_TOLERANCE_MS = 300

IN_SYNC = """(args) => {
  const [tolerance, expected] = args;
  const player = window.recdeskPlayer;
  if (!player || !player.playing()) return false;
  const rows = player.positions().filter((row) => row.segment !== null);
  if (rows.length < expected) return false;
  return rows.every((row) => row.readyState >= 2 && !row.seeking && !row.paused && !row.failed
    && Math.abs(row.media - row.playhead) <= tolerance);
}"""


def positions(page) -> list[dict]:
    return page.evaluate("() => window.recdeskPlayer.positions()")


def wait_in_sync(page, lanes: int, timeout_ms: int = 30_000) -> list[dict]:
    """Wait until `lanes` videos play where the playhead is; answer the positions then."""
    try:
        page.wait_for_function(IN_SYNC, arg=[SYNC_TOLERANCE_MS, lanes], timeout=timeout_ms, polling=100)
    except Exception as exc:
        raise AssertionError(f"lanes never agreed within {SYNC_TOLERANCE_MS} ms: {positions(page)}") from exc
    return positions(page)


def assert_stays_in_sync(page, lanes: int, seconds: float = 2.0) -> None:
    """While it plays, every video advances with the playhead, sample after sample."""
    first = {row["lane"]: row for row in wait_in_sync(page, lanes)}
    deadline = time.monotonic() + seconds
    samples = 0
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)  # a sampling interval, not a wait for a state
        rows = positions(page)
        playing = [row for row in rows if row["segment"] is not None]
        assert len(playing) >= lanes, rows
        for row in playing:
            drift = abs(row["media"] - row["playhead"])
            assert drift <= SYNC_TOLERANCE_MS, f"{row['lane']} is {drift:.0f} ms off the playhead: {rows}"
        samples += 1
    last = {row["lane"]: row for row in positions(page)}
    for lane, row in first.items():
        advanced = last[lane]["currentTime"] - row["currentTime"]
        assert advanced >= seconds * 0.5, f"{lane}'s video advanced only {advanced:.2f} s in {seconds} s"
    assert samples >= 4


def in_language(language: str, text: str) -> str:
    """The product's own translation of an English UI string (the .po is filled by others)."""
    with translation.override(language):
        translated = translation.gettext(text)
    if language != "en":
        assert translated != text, (
            f"{text!r} has no {language} translation (compiled .mo missing or msgstr empty)"
        )
    return translated
