"""The sandbox's media: real H.264 files of the exact reported length, served with byte ranges."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from recordings.sandbox import media

START_EPOCH_MS = 1_750_000_000_123


def render(path: Path, duration_ms: int, title: str = "teacher_01 · camera") -> int:
    return media.render_segment(
        path,
        duration_ms=duration_ms,
        title=title,
        subtitle="Agora · room class-101",
        start_epoch_ms=START_EPOCH_MS,
    )


def packets_span_ms(path: Path) -> tuple[int, int]:
    """First presentation time and end of the last packet of the video stream, in milliseconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        starts, ends = [], []
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            starts.append(packet.pts * stream.time_base)
            ends.append((packet.pts + packet.duration) * stream.time_base)
    return round(min(starts) * 1000), round(max(ends) * 1000)


def top_level_boxes(path: Path) -> list[str]:
    names = []
    with open(path, "rb") as file:
        while header := file.read(8):
            size = int.from_bytes(header[:4], "big")
            names.append(header[4:8].decode("latin-1"))
            if size == 1:
                size = int.from_bytes(file.read(8), "big")
                file.seek(size - 16, 1)
            else:
                file.seek(size - 8, 1)
    return names


@pytest.fixture(scope="module")
def segment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "teacher_01_camera.mp4"
    render(path, 10_250)
    return path


# ---------------------------------------------------------------------------------------------- mp4


@pytest.mark.parametrize("duration_ms", [10_250, 3_000, 1_700, 333])
def test_rendered_file_lasts_exactly_the_requested_duration(tmp_path: Path, duration_ms: int) -> None:
    path = tmp_path / "segment.mp4"
    size = render(path, duration_ms)

    assert size == path.stat().st_size
    with av.open(str(path)) as container:
        assert container.duration == duration_ms * 1000  # microseconds
        stream = container.streams.video[0]
        assert round(stream.duration * stream.time_base * 1000) == duration_ms
    assert packets_span_ms(path) == (0, duration_ms)


def test_rendered_file_is_small_h264_for_browsers(segment: Path) -> None:
    with av.open(str(segment)) as container:
        assert container.format.name.split(",")[0] == "mov"
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.profile in {"Constrained Baseline", "Baseline", "Main", "High"}
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 180)
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.frames == 21  # 2 fps over 10.25 s: frames at 0, 0.5, … 10.0 s
        assert container.metadata.get("title") == "teacher_01 · camera"


def test_moov_comes_before_the_media_data_so_a_browser_can_seek_early(segment: Path) -> None:
    boxes = top_level_boxes(segment)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat")


def test_the_clock_changes_while_the_title_card_stays(segment: Path) -> None:
    with av.open(str(segment)) as container:
        frames = {round(frame.time * 1000): frame.to_image() for frame in container.decode(video=0)}
    first, same_second, later = frames[0], frames[500], frames[5000]
    card, band = (0, 0, 320, 96), (0, 100, 320, 180)

    def mean_difference(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
        # Lossy coding moves pixels a little between frames even where nothing was redrawn.
        return sum(ImageStat.Stat(ImageChops.difference(a.crop(box), b.crop(box))).mean) / 3

    assert mean_difference(first, later, card) < 2.5
    assert mean_difference(first, later, band) > 5
    assert mean_difference(first, same_second, band) < 1.5


def test_a_second_render_with_the_same_parameters_reuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "segment.mp4"
    size = render(path, 2_000)
    modified = path.stat().st_mtime_ns
    inode = path.stat().st_ino

    assert render(path, 2_000) == size
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == (modified, inode)


def test_other_parameters_render_the_file_again(tmp_path: Path) -> None:
    path = tmp_path / "segment.mp4"
    render(path, 2_000)
    inode = path.stat().st_ino

    render(path, 3_500)
    assert path.stat().st_ino != inode
    assert packets_span_ms(path) == (0, 3_500)
    render(path, 3_500, title="student_02 · screen")
    with av.open(str(path)) as container:
        assert container.metadata.get("title") == "student_02 · screen"


def test_a_damaged_file_is_rendered_again(tmp_path: Path) -> None:
    path = tmp_path / "segment.mp4"
    size = render(path, 2_000)
    path.write_bytes(b"truncated")

    assert render(path, 2_000) == size
    assert packets_span_ms(path) == (0, 2_000)


def test_concurrent_renders_of_one_file_leave_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "segment.mp4"
    sizes: list[int] = []
    threads = [threading.Thread(target=lambda: sizes.append(render(path, 4_000))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(sizes) == 4 and len(set(sizes)) == 1
    assert packets_span_ms(path) == (0, 4_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["segment.mp4", "segment.mp4.render.json"]


def test_a_non_positive_duration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render(tmp_path / "segment.mp4", 0)
    assert not (tmp_path / "segment.mp4").exists()


# ---------------------------------------------------------------------------------------------- hls


def read_playlist(playlist: Path) -> list[tuple[float, str]]:
    lines = playlist.read_text().splitlines()
    assert lines[0] == "#EXTM3U" and lines[-1] == "#EXT-X-ENDLIST"
    entries = []
    for line, following in zip(lines, lines[1:], strict=False):
        if line.startswith("#EXTINF:"):
            entries.append((float(line.removeprefix("#EXTINF:").rstrip(",")), following))
    return entries


def render_hls(directory: Path, duration_ms: int, slice_seconds: int = 4) -> tuple[Path, int]:
    return media.render_hls(
        directory,
        duration_ms=duration_ms,
        title="teacher_01 · mixed",
        subtitle="Agora HLS",
        start_epoch_ms=START_EPOCH_MS,
        slice_seconds=slice_seconds,
    )


@pytest.mark.parametrize(
    ("duration_ms", "slice_seconds"), [(10_500, [4.0, 4.0, 2.5]), (10_250, [4.0, 4.0, 2.25])]
)
def test_hls_slices_add_up_to_the_duration(
    tmp_path: Path, duration_ms: int, slice_seconds: list[float]
) -> None:
    playlist, total = render_hls(tmp_path / "hls", duration_ms)

    assert playlist == tmp_path / "hls" / "index.m3u8"
    entries = read_playlist(playlist)
    assert [seconds for seconds, _ in entries] == slice_seconds
    assert sum(seconds for seconds, _ in entries) * 1000 == duration_ms
    assert "#EXT-X-TARGETDURATION:4" in playlist.read_text().splitlines()
    expected_start_us = 0
    for seconds, name in entries:
        with av.open(str(playlist.parent / name)) as container:
            assert container.format.name == "mpegts"
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            # Timestamps run on across slices, as HLS needs for seamless playback.
            assert round(stream.start_time * stream.time_base * 1_000_000) == expected_start_us
            # MPEG-TS carries no frame durations, so a reader can only estimate a slice's end from
            # the frame rate: exact for whole frames, within one frame otherwise.
            assert abs(container.duration - seconds * 1_000_000) < 500_000
            if seconds * 1000 % 500 == 0:
                assert container.duration == seconds * 1_000_000
            assert next(container.demux(stream)).is_keyframe
        expected_start_us += round(seconds * 1_000_000)
    assert total == playlist.stat().st_size + sum(
        (playlist.parent / name).stat().st_size for _, name in entries
    )


def test_hls_is_reused_with_the_same_parameters_and_replaced_with_others(tmp_path: Path) -> None:
    directory = tmp_path / "hls"
    playlist, total = render_hls(directory, 6_000)
    first_names = [name for _, name in read_playlist(playlist)]
    modified = {name: (directory / name).stat().st_mtime_ns for name in first_names}

    assert render_hls(directory, 6_000) == (playlist, total)
    assert {name: (directory / name).stat().st_mtime_ns for name in first_names} == modified

    render_hls(directory, 9_000)
    second_names = [name for _, name in read_playlist(playlist)]
    assert not set(first_names) & set(second_names)
    assert sorted(p.name for p in directory.glob("*.ts")) == sorted(second_names)


# ---------------------------------------------------------------------------------------------- http


@pytest.fixture
def server(tmp_path: Path, segment: Path) -> Iterator[tuple[str, int, Path, bytes]]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "segment.mp4").write_bytes(segment.read_bytes())
    (root / "index.m3u8").write_text("#EXTM3U\n")
    (root / "slice.ts").write_bytes(b"\x47" * 188)
    (root / "audio.mp3").write_bytes(b"ID3")
    (root / "empty.mp4").write_bytes(b"")
    (tmp_path / "secret.txt").write_text("outside the media root")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            media.send_file(self, root / self.path.lstrip("/"))

        def do_HEAD(self) -> None:
            media.send_file(self, root / self.path.lstrip("/"), head=True)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", httpd.server_address[1], root, segment.read_bytes()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def fetch(server, path: str, method: str = "GET", **headers: str) -> tuple[http.client.HTTPResponse, bytes]:
    host, port, _, _ = server
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def test_whole_file_with_validators(server) -> None:
    response, body = fetch(server, "/segment.mp4")
    data = server[3]

    assert response.status == 200
    assert body == data
    assert response.getheader("Content-Length") == str(len(data))
    assert response.getheader("Content-Type") == "video/mp4"
    assert response.getheader("Accept-Ranges") == "bytes"
    assert response.getheader("ETag", "").startswith('"')
    assert response.getheader("Last-Modified", "").endswith("GMT")


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=500-", 500, None),
        ("bytes=-300", None, None),
    ],
)
def test_single_ranges_answer_206(server, range_header: str, first: int | None, last: int | None) -> None:
    data = server[3]
    size = len(data)
    if first is None:
        first, last = size - 300, size - 1
    elif last is None:
        last = size - 1

    response, body = fetch(server, "/segment.mp4", Range=range_header)

    assert response.status == 206
    assert body == data[first : last + 1]
    assert response.getheader("Content-Range") == f"bytes {first}-{last}/{size}"
    assert response.getheader("Content-Length") == str(last - first + 1)


def test_ranges_past_the_end_are_clipped(server) -> None:
    data = server[3]
    size = len(data)

    response, body = fetch(server, "/segment.mp4", Range=f"bytes={size - 10}-{size + 5000}")
    assert (response.status, body) == (206, data[-10:])
    assert response.getheader("Content-Range") == f"bytes {size - 10}-{size - 1}/{size}"

    response, body = fetch(server, "/segment.mp4", Range=f"bytes=-{size * 2}")
    assert (response.status, body) == (206, data)
    assert response.getheader("Content-Range") == f"bytes 0-{size - 1}/{size}"


@pytest.mark.parametrize("range_header", ["bytes={size}-", "bytes={size}-{size}", "bytes=-0"])
def test_unsatisfiable_ranges_answer_416(server, range_header: str) -> None:
    size = len(server[3])

    response, body = fetch(server, "/segment.mp4", Range=range_header.format(size=size))

    assert response.status == 416
    assert response.getheader("Content-Range") == f"bytes */{size}"
    assert body == b""


def test_any_range_of_an_empty_file_is_unsatisfiable(server) -> None:
    response, _ = fetch(server, "/empty.mp4", Range="bytes=0-")
    assert (response.status, response.getheader("Content-Range")) == (416, "bytes */0")

    response, body = fetch(server, "/empty.mp4")
    assert (response.status, body, response.getheader("Content-Length")) == (200, b"", "0")


@pytest.mark.parametrize("range_header", ["bytes=0-1,5-9", "items=0-9", "bytes=9-3", "bytes=abc"])
def test_ranges_we_do_not_serve_get_the_whole_file(server, range_header: str) -> None:
    response, body = fetch(server, "/segment.mp4", Range=range_header)
    assert (response.status, body) == (200, server[3])


def test_head_sends_headers_only(server) -> None:
    size = len(server[3])

    response, body = fetch(server, "/segment.mp4", "HEAD")
    assert (response.status, body) == (200, b"")
    assert response.getheader("Content-Length") == str(size)

    response, body = fetch(server, "/segment.mp4", "HEAD", Range="bytes=10-19")
    assert (response.status, body) == (206, b"")
    assert response.getheader("Content-Range") == f"bytes 10-19/{size}"
    assert response.getheader("Content-Length") == "10"


def test_conditional_requests(server) -> None:
    response, _ = fetch(server, "/segment.mp4")
    etag, last_modified = response.getheader("ETag"), response.getheader("Last-Modified")

    response, body = fetch(server, "/segment.mp4", **{"If-None-Match": etag})
    assert (response.status, body) == (304, b"")
    response, _ = fetch(server, "/segment.mp4", **{"If-Modified-Since": last_modified})
    assert response.status == 304
    response, _ = fetch(server, "/segment.mp4", **{"If-None-Match": '"another"'})
    assert response.status == 200

    response, body = fetch(server, "/segment.mp4", Range="bytes=0-9", **{"If-Range": etag})
    assert (response.status, body) == (206, server[3][:10])
    response, body = fetch(server, "/segment.mp4", Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert (response.status, body) == (200, server[3])


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.m3u8", "application/vnd.apple.mpegurl"),
        ("slice.ts", "video/mp2t"),
        ("audio.mp3", "audio/mpeg"),
    ],
)
def test_content_types(server, name: str, content_type: str) -> None:
    response, body = fetch(server, f"/{name}")
    assert response.status == 200
    assert response.getheader("Content-Type") == content_type
    assert body == (server[2] / name).read_bytes()


@pytest.mark.parametrize("path", ["/../secret.txt", "/missing.mp4", "/"])
def test_nothing_outside_the_root_nor_missing_files_nor_directories(server, path: str) -> None:
    response, body = fetch(server, path)
    assert response.status == 404
    assert b"outside" not in body


def test_a_client_that_hangs_up_mid_body_does_not_break_the_server(server) -> None:
    host, port, _, data = server
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/segment.mp4")
    response = connection.getresponse()
    response.read(10)
    connection.close()

    response, body = fetch(server, "/segment.mp4", Range="bytes=0-9")
    assert (response.status, body) == (206, data[:10])
