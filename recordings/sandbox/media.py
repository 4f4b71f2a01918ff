"""The real media files behind the sandbox vendors' recordings, and the HTTP answer that serves them.

Every segment the sandbox reports is a playable H.264 file whose length is exactly the duration the
vendor API reports, with the user, the kind, the wall clock and the elapsed time drawn in, so that the
timeline page can be checked by eye: lanes played in sync show the same wall clock.

Why it is fast enough for a demo: frames are tiny (320x180) and few (2 per second); everything that
never changes is drawn and converted to YUV once; the clock band is drawn once per displayed second and
reused for every frame of that second; x264 runs with its fastest preset on one thread.
Measured on the project's 2-core machine (PyAV 18, libx264 ultrafast, crf 28, 2 fps, 320x180):
a 45-minute MP4 rendered in 3.4-3.8 s in one series of runs and in 6.6-10 s in another, while other
jobs kept both cores busy (load average 4-5); it weighs 5.7 MB. A 10-second one takes 0.1-0.2 s
(24 KB). The 45-minute HLS set (270 slices of 10 s, 10.5 MB) took 12-13 s under that load. Reusing a rendered file costs
one sidecar read (under a millisecond).
"""

from __future__ import annotations

import colorsys
import email.utils
import hashlib
import http
import json
import math
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import av
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageColor, ImageDraw, ImageFont

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

__all__ = ["render_segment", "render_hls", "send_file", "content_type_for"]

FRAME_WIDTH = 320
FRAME_HEIGHT = 180
FRAMES_PER_SECOND = 2
KEYFRAME_INTERVAL_SECONDS = 10
# Bump when the picture or the encoding changes, so that files rendered before are rendered again.
RENDER_VERSION = 1

_FRAME_STEP_MS = 1000 // FRAMES_PER_SECOND
# The clock band is the only part that changes; it starts on an even row because chroma is subsampled
# by two, so that its YUV planes can be copied row for row into the frame.
_BAND_TOP = 100
_BAND_HEIGHT = FRAME_HEIGHT - _BAND_TOP
_MARGIN = 10
_MS_TIME_BASE = Fraction(1, 1000)
# ultrafast keeps the Constrained Baseline profile that every browser decodes; crf 28 still gives
# legible text at this size and files a sixth smaller than the default 23.
_X264_OPTIONS = {"preset": "ultrafast", "tune": "stillimage", "crf": "28"}
_CHUNK_BYTES = 64 * 1024

# CJK-capable fonts first, because user ids and class titles are often Chinese; Pillow's own font,
# always present, draws Latin only.
_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".mp3": "audio/mpeg",
    ".aac": "audio/aac",
    ".flv": "video/x-flv",
    ".json": "application/json",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}


# --------------------------------------------------------------------------------------------------
# Drawing


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _FONT_CANDIDATES:
        if os.path.exists(candidate):
            try:
                return ImageFont.truetype(candidate, size)
            except OSError:
                continue
    return ImageFont.load_default(size=size)


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _hms(milliseconds: int) -> str:
    seconds = milliseconds // 1000
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _lane_colour(title: str) -> tuple[int, int, int]:
    # One muted colour per title, so that side-by-side lanes are told apart at a glance.
    hue = int.from_bytes(hashlib.sha256(title.encode()).digest()[:2], "big") / 65535
    red, green, blue = colorsys.hls_to_rgb(hue, 0.32, 0.45)
    return round(red * 255), round(green * 255), round(blue * 255)


class _GlyphWriter:
    """Writes text from glyphs rendered once, because the clock is redrawn thousands of times.

    Kerning is lost, which the digits and separators of a clock do not need.
    """

    def __init__(self, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, fill: str) -> None:
        self._font = font
        self._fill = ImageColor.getrgb(fill)
        ascent, descent = font.getmetrics()
        self._height = ascent + descent
        self._glyphs: dict[str, tuple[Image.Image, float]] = {}

    def _glyph(self, character: str) -> tuple[Image.Image, float]:
        glyph = self._glyphs.get(character)
        if glyph is None:
            advance = self._font.getlength(character)
            # Room on the right for the few glyphs that overhang their advance.
            mask = Image.new("L", (math.ceil(advance) + 3, self._height))
            ImageDraw.Draw(mask).text((0, 0), character, font=self._font, fill=255)
            glyph = self._glyphs[character] = (mask, advance)
        return glyph

    def write(self, image: Image.Image, origin: tuple[int, int], text: str) -> None:
        x, y = origin
        cursor = float(x)
        for character in text:
            mask, advance = self._glyph(character)
            left = round(cursor)
            image.paste(self._fill, (left, y, left + mask.width, y + mask.height), mask)
            cursor += advance


def _copy_rows(source: av.VideoFrame, target: av.VideoFrame, first_target_row: int) -> None:
    """Copy every row of `source`'s yuv420p planes into `target`'s, from luma row `first_target_row`."""
    for index, (src, dst) in enumerate(zip(source.planes, target.planes, strict=True)):
        row_offset = first_target_row if index == 0 else first_target_row // 2
        width = src.width
        src_view, dst_view = memoryview(src), memoryview(dst)
        for row in range(src.height):
            dst_start = (row_offset + row) * dst.line_size
            src_start = row * src.line_size
            dst_view[dst_start : dst_start + width] = src_view[src_start : src_start + width]


class _Painter:
    """Draws the frames of one recording: a static card and a clock band that changes each second."""

    def __init__(self, *, title: str, subtitle: str, start_epoch_ms: int, duration_ms: int) -> None:
        self.start_epoch_ms = start_epoch_ms
        self.duration_ms = duration_ms
        colour = _lane_colour(title)
        card = Image.new("RGB", (FRAME_WIDTH, FRAME_HEIGHT), colour)
        draw = ImageDraw.Draw(card)
        text_width = FRAME_WIDTH - 2 * _MARGIN
        # Each painter loads its own fonts: a FreeType face must not be used by two threads at once.
        title_font, subtitle_font = _font(18), _font(12)
        draw.text((_MARGIN, 12), _fit(title, title_font, text_width), font=title_font, fill="white")
        draw.text(
            (_MARGIN, 42), _fit(subtitle, subtitle_font, text_width), font=subtitle_font, fill="#e0e0e0"
        )
        draw.text(
            (_MARGIN, 62),
            f"{_hms(duration_ms)} ({duration_ms} ms) · sandbox",
            font=subtitle_font,
            fill="#c8c8c8",
        )
        self._background = self._new_frame()
        _copy_rows(av.VideoFrame.from_image(card).reformat(format="yuv420p"), self._background, 0)
        self._background_planes = [bytes(plane) for plane in self._background.planes]
        self._band = Image.new("RGB", (FRAME_WIDTH, _BAND_HEIGHT), tuple(value // 3 for value in colour))
        self._wall_clock = _GlyphWriter(_font(13), "#f0f0f0")
        self._elapsed_clock = _GlyphWriter(_font(24), "white")
        # One converter for all frames: it keeps its scaler between calls, which a frame's own does not.
        self._reformatter = VideoReformatter()
        self._cached_key: tuple[int, int] | None = None
        self._cached_frame: av.VideoFrame | None = None

    @staticmethod
    def _new_frame() -> av.VideoFrame:
        return av.VideoFrame(FRAME_WIDTH, FRAME_HEIGHT, "yuv420p")

    def frame_at(self, elapsed_ms: int) -> av.VideoFrame:
        # The wall clock turns over on its own seconds, not the recording's: lanes that started at
        # different milliseconds then show the same wall time at the same instant.
        key = (elapsed_ms // 1000, (self.start_epoch_ms + elapsed_ms) // 1000)
        if key != self._cached_key or self._cached_frame is None:
            self._cached_frame = self._draw(*key)
            self._cached_key = key
        return self._cached_frame

    def _draw(self, elapsed_second: int, wall_second: int) -> av.VideoFrame:
        elapsed_ms = elapsed_second * 1000
        band = self._band.copy()
        draw = ImageDraw.Draw(band)
        wall = datetime.fromtimestamp(wall_second, tz=UTC)
        self._wall_clock.write(band, (_MARGIN, 6), wall.strftime("%Y-%m-%d %H:%M:%S UTC"))
        self._elapsed_clock.write(band, (_MARGIN, 24), f"{_hms(elapsed_ms)} / {_hms(self.duration_ms)}")
        bar_top, bar_bottom = _BAND_HEIGHT - 14, _BAND_HEIGHT - 8
        bar_width = FRAME_WIDTH - 2 * _MARGIN
        draw.rectangle((_MARGIN, bar_top, _MARGIN + bar_width, bar_bottom), outline="#a0a0a0")
        filled = round(bar_width * min(elapsed_ms, self.duration_ms) / self.duration_ms)
        if filled:
            draw.rectangle((_MARGIN, bar_top, _MARGIN + filled, bar_bottom), fill="white")
        frame = self._new_frame()
        for plane, background in zip(frame.planes, self._background_planes, strict=True):
            memoryview(plane)[:] = background
        _copy_rows(
            self._reformatter.reformat(av.VideoFrame.from_image(band), format="yuv420p"), frame, _BAND_TOP
        )
        return frame


# --------------------------------------------------------------------------------------------------
# Encoding


def _encode_span(
    container: av.container.OutputContainer, painter: _Painter, start_ms: int, end_ms: int
) -> None:
    """Encode the frames of [start_ms, end_ms) into `container` with a fresh encoder.

    Timestamps are in milliseconds from the recording's start. The last frame's duration is cut to
    end at `end_ms`, which is how the file's duration comes out exact rather than a whole number of
    frames.
    """
    stream = container.add_stream(
        "libx264",
        rate=FRAMES_PER_SECOND,
        options={**_X264_OPTIONS, "g": str(FRAMES_PER_SECOND * KEYFRAME_INTERVAL_SECONDS)},
    )
    stream.width, stream.height, stream.pix_fmt = FRAME_WIDTH, FRAME_HEIGHT, "yuv420p"
    stream.time_base = _MS_TIME_BASE
    codec = stream.codec_context
    codec.time_base = _MS_TIME_BASE
    # Several segments are often rendered at once on a small machine; threads would only contend.
    codec.thread_count = 1

    def mux(packets: list[av.Packet]) -> None:
        for packet in packets:
            packet.duration = min(_FRAME_STEP_MS, end_ms - packet.pts)
            container.mux(packet)

    for elapsed_ms in range(start_ms, end_ms, _FRAME_STEP_MS):
        frame = painter.frame_at(elapsed_ms)
        frame.pts = elapsed_ms
        mux(stream.encode(frame))
    mux(stream.encode(None))


# --------------------------------------------------------------------------------------------------
# Idempotency and atomic writes

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    key = os.path.abspath(path)
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        yield


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".render.json")


def _read_sidecar(path: Path) -> dict | None:
    try:
        return json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return None


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Have `write` fill a temporary file beside `target`, then rename it over `target`.

    A reader sees the old file or the new one, never half of one; the temporary name is unique, so two
    processes rendering the same file do not write into each other's.
    """
    descriptor, temporary_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        write(temporary)
        # mkstemp makes the file private; media is served to anyone who may reach the sandbox.
        temporary.chmod(0o644)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_text(target: Path, text: str) -> None:
    _atomic_write(target, lambda temporary: temporary.write_text(text))


def _parameters(kind: str, **values: object) -> dict:
    return {
        "kind": kind,
        "render_version": RENDER_VERSION,
        "width": FRAME_WIDTH,
        "height": FRAME_HEIGHT,
        "fps": FRAMES_PER_SECOND,
        **values,
    }


def _check_duration(duration_ms: int) -> None:
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int) or duration_ms <= 0:
        raise ValueError(f"duration_ms must be a positive whole number of milliseconds, not {duration_ms!r}")


def render_segment(path: Path, *, duration_ms: int, title: str, subtitle: str, start_epoch_ms: int) -> int:
    """Write an H.264 MP4 of exactly `duration_ms` at `path` and return its size in bytes.

    The moov atom is at the front (faststart), so a browser can seek before it has the whole file. A
    file already rendered with the same parameters (recorded in a `.render.json` sidecar) is reused.
    """
    _check_duration(duration_ms)
    path = Path(path)
    parameters = _parameters(
        "mp4", duration_ms=duration_ms, title=title, subtitle=subtitle, start_epoch_ms=start_epoch_ms
    )
    with _exclusive(path):
        recorded = _read_sidecar(path)
        if recorded and recorded.get("parameters") == parameters:
            try:
                if path.stat().st_size == recorded.get("size"):
                    return recorded["size"]
            except OSError:
                pass
        path.parent.mkdir(parents=True, exist_ok=True)
        painter = _Painter(
            title=title, subtitle=subtitle, start_epoch_ms=start_epoch_ms, duration_ms=duration_ms
        )

        def write(temporary: Path) -> None:
            with av.open(str(temporary), "w", format="mp4", options={"movflags": "+faststart"}) as container:
                container.metadata["title"] = title
                container.metadata["comment"] = subtitle
                _encode_span(container, painter, 0, duration_ms)

        _atomic_write(path, write)
        size = path.stat().st_size
        _write_text(_sidecar(path), json.dumps({"parameters": parameters, "size": size}))
        return size


def render_hls(
    directory: Path,
    *,
    duration_ms: int,
    title: str,
    subtitle: str,
    start_epoch_ms: int,
    slice_seconds: int = 10,
) -> tuple[Path, int]:
    """Write `index.m3u8` and its MPEG-TS slices into `directory`; return (playlist, total bytes).

    Each slice has its own encoder, so it starts on a keyframe and plays on its own; timestamps run on
    across slices as HLS requires. Slice names carry a hash of the parameters, so re-rendering with
    other parameters never overwrites a slice that a reader of the old playlist is about to fetch;
    the playlist is replaced last, and slices of older renderings are removed after it.
    """
    _check_duration(duration_ms)
    if isinstance(slice_seconds, bool) or not isinstance(slice_seconds, int) or slice_seconds <= 0:
        raise ValueError(f"slice_seconds must be a positive whole number, not {slice_seconds!r}")
    directory = Path(directory)
    playlist = directory / "index.m3u8"
    parameters = _parameters(
        "hls",
        duration_ms=duration_ms,
        title=title,
        subtitle=subtitle,
        start_epoch_ms=start_epoch_ms,
        slice_seconds=slice_seconds,
    )
    with _exclusive(playlist):
        recorded = _read_sidecar(playlist)
        if recorded and recorded.get("parameters") == parameters:
            try:
                sizes = [(directory / name).stat().st_size for name in recorded["slices"]]
                sizes.append(playlist.stat().st_size)
                if sum(sizes) == recorded.get("size"):
                    return playlist, recorded["size"]
            except (OSError, KeyError, TypeError):
                pass
        directory.mkdir(parents=True, exist_ok=True)
        painter = _Painter(
            title=title, subtitle=subtitle, start_epoch_ms=start_epoch_ms, duration_ms=duration_ms
        )
        digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:10]
        slice_ms = slice_seconds * 1000
        slice_names: list[str] = []
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{math.ceil(min(slice_ms, duration_ms) / 1000)}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
        ]
        total = 0
        for number, start_ms in enumerate(range(0, duration_ms, slice_ms)):
            end_ms = min(start_ms + slice_ms, duration_ms)
            name = f"slice-{digest}-{number:05d}.ts"

            def write(temporary: Path, start_ms: int = start_ms, end_ms: int = end_ms) -> None:
                with av.open(str(temporary), "w", format="mpegts") as container:
                    _encode_span(container, painter, start_ms, end_ms)

            _atomic_write(directory / name, write)
            total += (directory / name).stat().st_size
            slice_names.append(name)
            lines += [f"#EXTINF:{(end_ms - start_ms) / 1000:.3f},", name]
        lines.append("#EXT-X-ENDLIST")
        _write_text(playlist, "\n".join(lines) + "\n")
        total += playlist.stat().st_size
        for stale in directory.glob("slice-*.ts"):
            if stale.name not in slice_names:
                stale.unlink(missing_ok=True)
        _write_text(
            _sidecar(playlist), json.dumps({"parameters": parameters, "size": total, "slices": slice_names})
        )
        return playlist, total


# --------------------------------------------------------------------------------------------------
# Serving


class _Unsatisfiable(Exception):
    pass


_RANGE_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


def content_type_for(path: Path) -> str:
    return _CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a `Range` header asks for, or None to answer with the whole file.

    RFC 9110 §14.2 lets a server ignore a Range it does not understand or will not serve; several
    ranges at once are ignored that way (a browser player never asks for them).
    """
    unit, separator, specification = header.partition("=")
    if not separator or unit.strip().lower() != "bytes" or "," in specification:
        return None
    match = _RANGE_SPEC.fullmatch(specification)
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        suffix_length = int(last)
        if suffix_length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - suffix_length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    return start, min(end, size - 1)


def _answer_without_body(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    # A 304 has no body by definition, and its Content-Length would have to be the file's (RFC 9110 §8.6).
    if status != http.HTTPStatus.NOT_MODIFIED:
        handler.send_header("Content-Length", "0")
    handler.end_headers()


def _not_found(handler: BaseHTTPRequestHandler) -> None:
    _answer_without_body(handler, http.HTTPStatus.NOT_FOUND, {"Content-Type": "text/plain; charset=utf-8"})


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [candidate.strip().removeprefix("W/") for candidate in header.split(",")]
    return "*" in candidates or etag in candidates


def send_file(handler: BaseHTTPRequestHandler, path: Path, *, head: bool = False) -> None:
    """Answer a GET (or HEAD, with `head=True`) for the file at `path`, honouring a single byte range.

    The caller maps the URL to `path` inside the media root; a path with a `..` part is refused here
    all the same. The body is streamed in chunks, never read whole.
    """
    path = Path(path)
    if ".." in path.parts:
        _not_found(handler)
        return
    try:
        # Checked before opening too, because opening a FIFO would block this thread.
        regular = stat.S_ISREG(path.stat().st_mode)
        file = open(path, "rb") if regular else None
    except OSError:
        file = None
    if file is None:
        _not_found(handler)
        return
    with file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            _not_found(handler)
            return
        size = status.st_size
        etag = f'"{size:x}-{status.st_mtime_ns:x}"'
        last_modified = email.utils.formatdate(status.st_mtime, usegmt=True)
        headers = {
            "Content-Type": content_type_for(path),
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Last-Modified": last_modified,
            # Revalidate each time: the sandbox may render a file again with other parameters.
            "Cache-Control": "no-cache",
            # The dashboard's timeline player (another origin) fetches playlists and slices by script.
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag",
        }

        if_none_match = handler.headers.get("If-None-Match")
        if if_none_match is not None:
            if _etag_matches(if_none_match, etag):
                _answer_without_body(handler, http.HTTPStatus.NOT_MODIFIED, headers)
                return
        elif (if_modified_since := handler.headers.get("If-Modified-Since")) is not None:
            try:
                since = email.utils.parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                since = None
            if since is not None and since.tzinfo is not None and int(status.st_mtime) <= since.timestamp():
                _answer_without_body(handler, http.HTTPStatus.NOT_MODIFIED, headers)
                return

        span: tuple[int, int] | None = None
        range_header = handler.headers.get("Range")
        if_range = handler.headers.get("If-Range")
        # A Range whose If-Range names another version of the file gets the whole (new) file.
        if range_header and (if_range is None or if_range.strip() in (etag, last_modified)):
            try:
                span = _parse_range(range_header, size)
            except _Unsatisfiable:
                _answer_without_body(
                    handler,
                    http.HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    {**headers, "Content-Range": f"bytes */{size}"},
                )
                return

        if span is None:
            start, end = 0, size - 1
            handler.send_response(http.HTTPStatus.OK)
        else:
            start, end = span
            handler.send_response(http.HTTPStatus.PARTIAL_CONTENT)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        if head or length <= 0:
            return
        _stream(handler, file, start, length)


def _stream(handler: BaseHTTPRequestHandler, file: BinaryIO, start: int, length: int) -> None:
    file.seek(start)
    remaining = length
    try:
        while remaining > 0:
            chunk = file.read(min(_CHUNK_BYTES, remaining))
            if not chunk:
                # The file shrank under us; the promised length can no longer be met.
                handler.close_connection = True
                return
            handler.wfile.write(chunk)
            remaining -= len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        # Players drop range requests all the time when the user seeks; that is not an error.
        handler.close_connection = True
