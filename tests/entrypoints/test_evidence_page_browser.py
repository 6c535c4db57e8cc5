"""The evidence page in a real browser: headless Chromium against the app on loopback.

Chromium is Debian's ``chromium`` package (``/usr/bin/chromium``), which ``bash scripts/test.sh``
installs. The test loads the page of a real check (a version bump in a git repository built from
the example intents repository), reads the DOM Chromium built, checks that the browser reported
nothing on its console (a Content-Security-Policy violation would show there), and takes a
screenshot at a phone's width. ``EUCORA_REFRESH_SCREENSHOT=1`` copies it to
``docs/evidence-page.png``; refresh it whenever the page changes.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bot.adapters.evidence_keys import SettingsKeys
from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.revisions import GitRevisions
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.db import create_database_engine, upgrade_schema
from bot.core.evidence import canonical_json
from bot.entrypoints.serve import StoreSource
from bot.entrypoints.web import AuditCatalogue, create_app
from bot.flows.check import CheckedChange, check_fetched
from bot.flows.evidence import EvidenceContext, record_check_evidence
from bot.ports import EvidencePorts
from bot.settings import Settings
from tests.conftest import EXAMPLES, ROOT
from tests.core.test_evidence_html import Page
from tests.support.gitrepo import GitRepo

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT = 60  # seconds, for every subprocess
PHONE = (412, 2000)  # a common Android phone's CSS width, and enough height for the top of the page
SCREENSHOT = ROOT / "docs" / "evidence-page.png"
WEDNESDAY = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
CHROME = "intents/windows/google-chrome.yaml"
OLD, NEW = "131.0.6778.86", "131.0.6778.109"
PASS_GREEN = (0xE6, 0xF4, 0xEA)  # the banner of a passing check (--pass-bg)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium package, "
            "which `bash scripts/test.sh` installs (or: apt-get install -y chromium)."
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> CheckedChange:
    """A real check: Chrome bumped to a new patch release in the example repository."""
    repo = GitRepo.create(
        tmp_path_factory.mktemp("browser") / "repo", template=EXAMPLES / "intents-repo"
    )
    repo.branch("change")
    repo.edit(CHROME, f'version: "{OLD}"', f'version: "{NEW}"')
    repo.commit(f"Chrome {NEW}")
    return check_fetched(GitRevisions(repo.path), "main", "change", now=WEDNESDAY)


@pytest.fixture(scope="module")
def page_url(run: CheckedChange) -> Iterator[str]:
    """The app served by werkzeug on a free loopback port, in a background thread."""
    app = create_app(
        evidence={run.digest: canonical_json(run.pack)},
        repository_url_for=lambda _: "https://github.com/contoso/eucora-intents",
    )
    with serving(app) as base:
        yield f"{base}/evidence/{run.digest}"


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve the app with werkzeug on a free loopback port, in a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=TIMEOUT)
        server.server_close()


def browse(chromium: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [str(chromium), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixel(data: bytes, x: int, y: int) -> tuple[int, int, int]:
    """One pixel of an 8-bit RGB or RGBA PNG (as Chromium writes them), unfiltering rows 0..y."""
    width, _ = png_size(data)
    bit_depth, color_type, interlace = data[24], data[25], data[28]
    assert (bit_depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[color_type]
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        previous = line
    red, green, blue = previous[x * channels : x * channels + 3]
    return red, green, blue


def test_a_person_sees_the_decision_the_risk_and_the_change(
    chromium: Path, page_url: str, run: CheckedChange, tmp_path: Path
) -> None:
    """Chromium shows PASS, the risk score and the Chrome row with its version before → after."""
    result = browse(chromium, tmp_path, "--dump-dom", page_url)
    dom = result.stdout
    assert console_messages(result.stderr) == []
    page = Page(dom)
    text = page.visible()
    assert run.pack["decision"]["conclusion"] == "pass"
    assert "PASS May merge once approved" in text
    assert "BLOCKED" not in text
    score, tier = run.pack["risk"]["score"], run.pack["risk"]["tier"]
    assert f"Risk: {score}/100 · {tier}" in text
    assert f"Risk score {score}/100" in text
    row = re.search(r'<tr><th scope="row"><code>google-chrome</code></th>.*?</tr>', dom)
    assert row is not None, "no change row for google-chrome"
    row_text = Page(row.group()).visible()
    assert re.search(rf"{re.escape(OLD)} → (to )?{re.escape(NEW)}", row_text), row_text
    assert "modified" in row_text
    devices = run.pack["changes"][0]["devices"]["head"]
    assert f"{devices:,}" in row_text
    assert run.digest in text
    assert f"eucora evidence verify {run.digest}" in text


def test_the_page_on_a_phone(
    chromium: Path, page_url: str, run: CheckedChange, tmp_path: Path
) -> None:
    """A phone-width screenshot is drawn with the page's own styles (the CSP lets them apply)."""
    shot = tmp_path / "page.png"
    width, height = PHONE
    result = browse(
        chromium, tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}", page_url
    )
    assert console_messages(result.stderr) == []
    data = shot.read_bytes()
    assert png_size(data) == PHONE
    assert len(data) > 20_000, "the screenshot is nearly empty"
    assert png_pixel(data, 4, 4) == PASS_GREEN, "the banner is not drawn in its pass colour"
    if os.environ.get("EUCORA_REFRESH_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


TITLE = "Chrome 132 <script>alert(1)</script><img src=x onerror=alert(2)>"
AUTHOR = "ada<b>bold</b>"


@pytest.fixture(scope="module")
def served_with_catalogue(
    run: CheckedChange, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app as ``eucora serve`` builds it: the check recorded in the audit log and the
    evidence store, with the pull request the App recorded beside it (markup in its title)."""
    home = tmp_path_factory.mktemp("served")
    settings = Settings.from_environ({"EUCORA_HOME": str(home)})
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    log, store = AuditLog(engine), EvidenceStore(settings.evidence_dir)
    record_check_evidence(
        run,
        EvidencePorts(store=store, keys=SettingsKeys(settings)),
        log=log,
        context=EvidenceContext(
            actor="eucora[bot]",
            correlation_id="d-1",
            repository="contoso/eucora-intents",
            pr=12,
            head_sha=str(run.pack["head"]),
        ),
        now=WEDNESDAY,
    )
    store.put_pull_request(
        run.digest,
        {
            "number": 12,
            "title": TITLE,
            "author": AUTHOR,
            "url": "https://github.com/contoso/eucora-intents/pull/12",
        },
    )
    app = create_app(
        evidence=StoreSource(store),
        repository_url_for=lambda _: "https://github.com/contoso/eucora-intents",
        catalogue=AuditCatalogue(log, store),
    )
    with serving(app) as base:
        yield f"{base}/evidence/"


@pytest.mark.parametrize("which", ["page", "index"])
def test_the_pull_request_is_named_by_its_title_and_author_as_text(
    chromium: Path, served_with_catalogue: str, run: CheckedChange, tmp_path: Path, which: str
) -> None:
    """Chromium shows the title and author the App recorded, as text: no element comes of them."""
    url = served_with_catalogue + (run.digest if which == "page" else "")
    result = browse(chromium, tmp_path, "--dump-dom", url)
    assert console_messages(result.stderr) == []
    dom = result.stdout
    assert f"#12 {TITLE} by {AUTHOR}" in Page(dom).visible()
    assert "<script" not in dom
    assert "<img" not in dom
    assert "<b>" not in dom
    assert 'href="https://github.com/contoso/eucora-intents/pull/12"' in dom
