"""fetch against a real HTTP server on 127.0.0.1 serving a Kvasir-SEG-layout zip (then unpacked)."""

from __future__ import annotations

import hashlib
import http.server
import logging
import pickle
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import SHARED_DATA

from seginterp.data.fetch import ChecksumError, DownloadError, NetworkError, fetch, sha256_file
from seginterp.data.unpack import unpack

KVASIR = SHARED_DATA / "kvasir-seg-sample" / "Kvasir-SEG"
TIMEOUT = 5.0  # every socket operation of client and server
HINT = "kvasir-seg.download.archive"


# ------------------------------------------------------------------------------------------------
# fixtures: sample zip and a local HTTP server
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kvasir_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A zip in Kvasir-SEG's official layout with 3 real image/mask pairs, and its members."""
    if not KVASIR.is_dir():
        pytest.skip(
            f"../shared/data is absent ({KVASIR} not found): the Kvasir-SEG sample is only "
            "available in the development checkout"
        )
    stems = sorted(p.stem for p in (KVASIR / "images").glob("*.jpg"))[:3]
    if len(stems) < 3:
        pytest.skip(f"{KVASIR / 'images'} holds fewer than 3 images")
    members = {}
    for stem in stems:
        for sub in ("images", "masks"):
            members[f"Kvasir-SEG/{sub}/{stem}.jpg"] = (KVASIR / sub / f"{stem}.jpg").read_bytes()
    path = tmp_path_factory.mktemp("zip") / "kvasir-seg.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path, members


@dataclass
class ServerState:
    """What the handler serves and what it saw."""

    payload: bytes = b""
    honour_range: bool = True
    cut_first_after: int | None = None  # close the connection after N body bytes, 1st request
    status: int = 200  # anything else: an error response
    requests: list[dict[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body (else ``payload``)
    paths: list[str] = field(default_factory=list)  # the URL path of each request


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = TIMEOUT  # socket timeout of the server side

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        state.requests.append(dict(self.headers.items()))
        state.paths.append(self.path)
        if state.status != 200:
            self.send_error(state.status)
            return
        data = state.files.get(self.path, state.payload)
        size, start = len(data), 0
        rng = self.headers.get("Range")
        if rng and state.honour_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = state.cut_first_after if len(state.requests) == 1 else None
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


@dataclass
class Server:
    state: ServerState
    base: str

    def url(self, name: str = "kvasir-seg.zip") -> str:
        return f"{self.base}/{name}"


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield Server(httpd.state, f"http://127.0.0.1:{httpd.server_address[1]}")  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/kvasir-seg.zip"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def get(url: str, dest: Path, **kw: object) -> Path:
    return fetch(url, dest, progress=False, timeout=TIMEOUT, **kw)  # type: ignore[arg-type]


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ------------------------------------------------------------------------------------------------
# fetch over HTTP
# ------------------------------------------------------------------------------------------------


def test_fetch_and_unpack(server: Server, kvasir_zip, tmp_path: Path) -> None:
    zpath, members = kvasir_zip
    server.state.payload = zpath.read_bytes()
    dest = tmp_path / "dl" / "kvasir-seg.zip"

    digest = sha(server.state.payload).upper()  # case does not matter
    out = fetch(server.url(), dest, sha256=digest, param_hint=HINT, progress=True, timeout=TIMEOUT)

    assert out == dest and dest.read_bytes() == server.state.payload
    assert leftovers(dest.parent) == ["kvasir-seg.zip"]  # no .part
    assert "Range" not in server.state.requests[0]
    target = unpack(dest, tmp_path / "raw")
    assert target == tmp_path / "raw"
    got = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert got == set(members)
    for name, data in members.items():
        assert (target / name).read_bytes() == data
    assert leftovers(tmp_path) == ["dl", "raw"]  # temp extraction dir gone


def test_resume_after_cut(server: Server, kvasir_zip, tmp_path: Path) -> None:
    server.state.payload = zpath = kvasir_zip[0].read_bytes()
    cut = len(zpath) // 3
    server.state.cut_first_after = cut
    dest = tmp_path / "kvasir-seg.zip"
    part = tmp_path / "kvasir-seg.zip.part"

    with pytest.raises(NetworkError) as ei:
        get(server.url(), dest, sha256=sha(zpath), param_hint=HINT)
    assert server.url() in str(ei.value) and HINT in str(ei.value)
    assert not dest.exists() and part.stat().st_size == cut  # partial kept for resume

    get(server.url(), dest, sha256=sha(zpath), param_hint=HINT)

    assert len(server.state.requests) == 2
    assert server.state.requests[1]["Range"] == f"bytes={cut}-"
    assert sha256_file(dest) == sha(zpath) and not part.exists()


def test_server_ignoring_range_restarts(server: Server, kvasir_zip, tmp_path: Path) -> None:
    server.state.payload = payload = kvasir_zip[0].read_bytes()
    server.state.honour_range = False
    dest = tmp_path / "kvasir-seg.zip"
    part = tmp_path / "kvasir-seg.zip.part"
    part.write_bytes(b"\xff" * 1000)  # garbage: appending the full body to it would not verify

    get(server.url(), dest, sha256=sha(payload))

    assert server.state.requests[0]["Range"] == "bytes=1000-"
    assert dest.read_bytes() == payload and not part.exists()


@pytest.mark.parametrize(
    ("extra", "n_requests"),
    [(b"", 1), (b"junk", 2)],
    ids=["part-complete", "part-too-long"],
)
def test_range_not_satisfiable(
    server: Server, kvasir_zip, tmp_path: Path, extra: bytes, n_requests: int
) -> None:
    server.state.payload = payload = kvasir_zip[0].read_bytes()
    dest = tmp_path / "kvasir-seg.zip"
    (tmp_path / "kvasir-seg.zip.part").write_bytes(payload + extra)

    get(server.url(), dest, sha256=sha(payload))

    assert dest.read_bytes() == payload
    assert len(server.state.requests) == n_requests
    assert leftovers(tmp_path) == ["kvasir-seg.zip"]


def test_checksum_mismatch_leaves_nothing(server: Server, kvasir_zip, tmp_path: Path) -> None:
    server.state.payload = payload = kvasir_zip[0].read_bytes()
    dest = tmp_path / "kvasir-seg.zip"
    wrong = "0" * 64

    with pytest.raises(ChecksumError) as ei:
        get(server.url(), dest, sha256=wrong)

    err = ei.value
    assert (err.file, err.expected, err.actual) == (dest, wrong, sha(payload))
    for text in (str(dest), wrong, sha(payload)):
        assert text in str(err)
    assert leftovers(tmp_path) == []  # neither dest nor .part
    assert pickle.loads(pickle.dumps(err)).actual == err.actual


def test_sha256_none_logs_hash(
    server: Server, kvasir_zip, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.state.payload = payload = kvasir_zip[0].read_bytes()
    with caplog.at_level(logging.INFO, logger="seginterp.data.fetch"):
        dest = get(server.url(), tmp_path / "kvasir-seg.zip")
    assert dest.read_bytes() == payload
    assert sha(payload) in caplog.text


def test_dest_already_valid_makes_no_request(server: Server, kvasir_zip, tmp_path: Path) -> None:
    payload = kvasir_zip[0].read_bytes()
    server.state.payload = b"must not be served"
    dest = tmp_path / "kvasir-seg.zip"
    dest.write_bytes(payload)

    assert get(server.url(), dest, sha256=sha(payload)) == dest
    assert server.state.requests == []


def test_dest_invalid_is_downloaded_again(server: Server, tmp_path: Path) -> None:
    server.state.payload = payload = b"fresh bytes" * 100
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"stale")
    get(server.url(), dest, sha256=sha(payload))
    assert dest.read_bytes() == payload and len(server.state.requests) == 1


def test_closed_port_is_network_error(closed_port_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "kvasir-seg.zip"
    with pytest.raises(NetworkError) as ei:
        get(closed_port_url, dest, sha256="0" * 64, param_hint=HINT)
    msg = str(ei.value)
    assert closed_port_url in msg and HINT in msg and "params.yaml" in msg
    assert isinstance(ei.value, DownloadError) and not dest.exists()


def test_http_error_is_network_error(server: Server, tmp_path: Path) -> None:
    server.state.status = 404
    with pytest.raises(NetworkError, match="404") as ei:
        get(server.url(), tmp_path / "x.zip", param_hint=HINT)
    assert server.url() in str(ei.value)
    assert leftovers(tmp_path) == []


def test_bad_sha256_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        get("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc")


# ------------------------------------------------------------------------------------------------
# fetch from a local archive
# ------------------------------------------------------------------------------------------------


def test_local_archive_needs_no_server(kvasir_zip, closed_port_url: str, tmp_path: Path) -> None:
    zpath = kvasir_zip[0]
    dest = tmp_path / "dl" / "kvasir-seg.zip"
    out = get(closed_port_url, dest, sha256=sha256_file(zpath), archive=zpath, param_hint=HINT)
    assert out == dest and dest.read_bytes() == zpath.read_bytes()
    assert leftovers(dest.parent) == ["kvasir-seg.zip"]
    # the same again: already there (and maybe the very same inode): nothing to do
    assert get(closed_port_url, dest, sha256=sha256_file(zpath), archive=zpath) == dest


def test_local_archive_mismatch_keeps_users_file(tmp_path: Path) -> None:
    archive = tmp_path / "mine.zip"
    archive.write_bytes(b"not what was expected")
    dest = tmp_path / "dl" / "kvasir-seg.zip"
    with pytest.raises(ChecksumError) as ei:
        get("", dest, sha256="1" * 64, archive=archive, param_hint=HINT)
    assert ei.value.file == archive and str(archive) in str(ei.value)
    assert archive.read_bytes() == b"not what was expected" and not dest.exists()


def test_local_archive_missing_names_param(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.zip"
    with pytest.raises(DownloadError) as ei:
        get("", tmp_path / "x.zip", archive=missing, param_hint=HINT)
    assert str(missing) in str(ei.value) and HINT in str(ei.value)


# ------------------------------------------------------------------------------------------------
# through a source: downloads keyed by URL + sha256, refused archives set aside
# ------------------------------------------------------------------------------------------------


def kvasir_layout_zip(tmp_path: Path, name: str, tag: bytes, extra: dict | None = None) -> bytes:
    """The bytes of a small zip in Kvasir-SEG's layout whose image holds ``tag``."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Kvasir-SEG/images/a.jpg", tag)
        zf.writestr("Kvasir-SEG/masks/a.jpg", b"mask")
        for member, data in (extra or {}).items():
            zf.writestr(zipfile.ZipInfo(member), data)
    return path.read_bytes()


def kvasir_download(url: str, tmp_path: Path, sha256: str | None = None) -> Path:
    """Run the kvasir-seg source's download into tmp_path/raw (a fresh folder); return it."""
    from seginterp.data.sources.registry import SOURCES

    src = SOURCES.get("kvasir-seg")
    cfg = src.parse({"source": "kvasir-seg", "url": url, "sha256": sha256})
    raw = tmp_path / "raw"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir()
    src.download(cfg, raw, downloads_dir=tmp_path / "dl", where="k.download", progress=False)
    return raw


def test_download_name_keys_origin_and_sha256() -> None:
    from seginterp.data.fetch import download_name

    a = download_name("kvasir-seg.zip", "http://x/a.zip", None)
    assert (
        a.startswith("kvasir-seg.") and a.endswith(".zip") and len(a) == len("kvasir-seg..zip") + 12
    )
    assert a == download_name("kvasir-seg.zip", "http://x/a.zip", None)  # stable
    assert a != download_name("kvasir-seg.zip", "http://x/b.zip", None)
    assert a != download_name("kvasir-seg.zip", "http://x/a.zip", "0" * 64)
    assert download_name("data.tar.gz", "u", None).endswith(".tar.gz")
    assert download_name("README", "u", None).startswith("README.")


def test_refused_archive_is_set_aside_and_a_fixed_url_is_used(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Zip slip: refused and moved aside; fixing the URL downloads the new file (the refused
    one was reused before)."""
    evil = kvasir_layout_zip(tmp_path, "evil.zip", b"evil", {"../evil.txt": b"pwned"})
    server.state.files = {"/evil.zip": evil, "/good.zip": kvasir_layout_zip(tmp_path, "g", b"ok")}
    with caplog.at_level(logging.WARNING), pytest.raises(DownloadError) as ei:
        kvasir_download(server.url("evil.zip"), tmp_path)
    assert "refusing to unpack" in str(ei.value) and ".refused" in str(ei.value)
    assert "refused" in caplog.text and "never reused" in caplog.text
    (aside,) = (tmp_path / "dl").iterdir()
    assert aside.name.endswith(".zip.refused") and aside.read_bytes() == evil
    assert not (tmp_path / "evil.txt").exists()

    raw = kvasir_download(server.url("good.zip"), tmp_path)
    assert (raw / "Kvasir-SEG" / "images" / "a.jpg").read_bytes() == b"ok"
    assert server.state.paths == ["/evil.zip", "/good.zip"]


def test_refused_archive_is_fetched_again_from_the_same_url(server: Server, tmp_path: Path) -> None:
    server.state.files = {"/k.zip": kvasir_layout_zip(tmp_path, "e", b"x", {"/abs.txt": b"x"})}
    with pytest.raises(DownloadError, match="absolute path"):
        kvasir_download(server.url("k.zip"), tmp_path)
    server.state.files = {"/k.zip": kvasir_layout_zip(tmp_path, "g", b"fixed")}  # fixed upstream
    raw = kvasir_download(server.url("k.zip"), tmp_path)
    assert (raw / "Kvasir-SEG" / "images" / "a.jpg").read_bytes() == b"fixed"
    assert server.state.paths == ["/k.zip", "/k.zip"]


def test_archive_of_the_wrong_layout_is_set_aside(server: Server, tmp_path: Path) -> None:
    from seginterp.data.sources.registry import DatasetError

    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pics/a.jpg", b"a")
    server.state.payload = path.read_bytes()
    with pytest.raises(DatasetError, match=r"does not hold Kvasir-SEG/images.*moved to"):
        kvasir_download(server.url(), tmp_path)
    assert [p.suffix for p in (tmp_path / "dl").iterdir()] == [".refused"]


def test_changed_url_never_reuses_a_stale_file(server: Server, tmp_path: Path) -> None:
    """With sha256 null a finished download used to be reused whatever the URL said."""
    server.state.files = {
        "/a.zip": kvasir_layout_zip(tmp_path, "a", b"A"),
        "/b.zip": kvasir_layout_zip(tmp_path, "b", b"B"),
    }
    raw = kvasir_download(server.url("a.zip"), tmp_path)
    assert (raw / "Kvasir-SEG" / "images" / "a.jpg").read_bytes() == b"A"
    raw = kvasir_download(server.url("b.zip"), tmp_path)
    assert (raw / "Kvasir-SEG" / "images" / "a.jpg").read_bytes() == b"B"
    raw = kvasir_download(server.url("a.zip"), tmp_path)  # back again: kept, not fetched
    assert (raw / "Kvasir-SEG" / "images" / "a.jpg").read_bytes() == b"A"
    assert server.state.paths == ["/a.zip", "/b.zip"]
    assert len(list((tmp_path / "dl").iterdir())) == 2


def test_partial_download_is_not_resumed_from_another_url(server: Server, tmp_path: Path) -> None:
    a = kvasir_layout_zip(tmp_path, "a", b"A" * 5000)
    server.state.files = {"/a.zip": a, "/b.zip": kvasir_layout_zip(tmp_path, "b", b"B" * 5000)}
    server.state.cut_first_after = len(a) // 2
    with pytest.raises(NetworkError):
        kvasir_download(server.url("a.zip"), tmp_path)
    raw = kvasir_download(server.url("b.zip"), tmp_path)
    assert "Range" not in server.state.requests[1]  # a fresh download, not A's tail appended
    assert (raw / "Kvasir-SEG" / "images" / "a.jpg").read_bytes() == b"B" * 5000


def test_checksum_mismatch_through_the_source_keeps_nothing(server: Server, tmp_path: Path) -> None:
    server.state.payload = payload = kvasir_layout_zip(tmp_path, "a", b"A")
    with pytest.raises(ChecksumError, match="the bad download was deleted"):
        kvasir_download(server.url(), tmp_path, sha256="1" * 64)
    assert list((tmp_path / "dl").iterdir()) == []
    raw = kvasir_download(server.url(), tmp_path, sha256=sha(payload))
    assert (raw / "Kvasir-SEG" / "images" / "a.jpg").read_bytes() == b"A"
