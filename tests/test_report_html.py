"""report.html: one self-contained page per run directory (sim.app.report).

Unit checks on the HTML text, then a headless Chromium load of the page: every figure
shows and nothing is fetched but the page itself.
"""

from __future__ import annotations

import base64
import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from sim.app import report as report_module  # noqa: E402
from sim.app.report import render_report, write_report  # noqa: E402

CONFIG = {
    "seed": 20220401,
    "horizon_days": 365.0,
    "cohort": {"name": "mixed", "n": 1234, "mix": {"hiv": 3.0, "hematologic_malignancy": 1.0}},
    "model": {"name": "calibrated", "dt_days": 1.0},
    "strategy": {
        "soc": {"name": "soc", "description": "standard of care", "therapies": []},
        "il7": {"name": "il7", "description": "SOC + rhIL-7", "therapies": [{"therapy": "rhil7"}]},
    },
    "output": {"progress": False},
    "task": "simulate",
}
META = {
    "package": "pml-sim",
    "version": "0.1.0",
    "git_commit": "0e7145b2eba10b844c1ac781f60c9b354a50b6d4",
    "git_dirty": True,
    "python": "3.11.7",
    "platform": "Linux-x86_64",
    "dependencies": {"numpy": "2.4.6", "pandas": "2.3.3"},
    "command": ["pml-sim", "cohort.n=1234", "hydra.run.dir=/tmp/x"],
    "config_hash": "c8fda556a188281c",
    "seed": 20220401,
    "wall_seconds": 6.31,
}
MD = """# Trial sizing

pd1 vs soc, **one-sided** alpha `0.025`.

- first point
- second <point>

| design | smallest n | power (SE) |
|---|---|---|
| fixed_survival_1y | 210 | 0.850 (0.036) |
| a\\|b | 240 | 0.920 (0.027) |
"""
PNGS = ("km.png", "survival.png")
# the injected checker: images and the resources the page fetched, as JSON in <pre id=check>
CHECK_JS = """<script>
window.onload = function () {
  var images = Array.from(document.images);
  var check = document.createElement("pre");
  check.id = "check";
  check.textContent = JSON.stringify({
    images: images.length,
    loaded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    resources: performance.getEntriesByType("resource").map(function (e) { return e.name; })
  });
  document.body.appendChild(check);
};
</script>"""


def _png(path: Path, power: int) -> None:
    fig, ax = plt.subplots(figsize=(4, 3), dpi=72)
    ax.plot(np.arange(20), np.arange(20) ** power)
    ax.set_title(path.name)
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    for k, name in enumerate(PNGS, start=1):
        _png(out / name, k)
    summary = pd.DataFrame(
        {
            "strategy": ["soc", "il7", "<script>alert(1)</script>"],
            "n": [5000, 4999, 3],
            "survival_1y": [0.332412, 0.5, 0.0123456],
            "median_days": [173.541, np.nan, 1234567.8],
        }
    )
    summary.to_csv(out / "summary.csv", index=False)
    pd.DataFrame({"draw": range(250), "icer": np.linspace(0, 1, 250)}).to_csv(
        out / "draws.csv", index=False
    )
    (out / "sizing.md").write_text(MD)
    pd.DataFrame({"id": range(10)}).to_parquet(out / "patients.parquet")
    (out / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    return out


@pytest.fixture
def report(run_dir: Path) -> Path:
    path = write_report(run_dir, META, (run_dir / "config.yaml").read_text())
    assert path == run_dir / "report.html"
    return path


def _section(text: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', text, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def _plain(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_every_png_inlined_exactly_once(report: Path) -> None:
    text = report.read_text()
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) == len(PNGS)
    for name in PNGS:
        data = base64.b64encode((report.parent / name).read_bytes()).decode()
        assert text.count(data) == 1
        assert f"<figcaption>{name}</figcaption>" in text
    assert sorted(base64.b64decode(u) for u in uris) == sorted(
        (report.parent / n).read_bytes() for n in PNGS
    )


def test_links_only_to_data_or_anchors(report: Path) -> None:
    text = report.read_text()
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", text, re.I)
    assert refs
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    for ref in refs:
        assert ref.startswith(("data:", "#")), ref
        if ref.startswith("#"):
            assert ref[1:] in ids, ref
    assert not re.search(r"url\(|@import|<link rel=\"stylesheet\"", text, re.I)


def test_html_is_escaped(report: Path) -> None:
    text = report.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert not re.search(r"<script", text, re.I)
    assert "second &lt;point&gt;" in text  # markdown text is escaped too


def test_csv_tables_formatted_and_truncated(report: Path) -> None:
    text = report.read_text()
    summary = _section(text, "tab-summary-csv")
    cells = re.findall(r"<td>([^<]*)</td>", summary)
    assert {"5000", "4999", "3"} <= set(cells)  # integers stay integers
    assert {"0.3324", "0.5", "0.01235", "173.5", "1234568"} <= set(cells)
    assert "first 200" not in summary
    draws = _section(text, "tab-draws-csv")
    assert "first 200 of 250 rows; full table in draws.csv" in draws
    body = draws[draws.index("<tbody>") :]
    assert body.count("<tr>") == 200


def test_large_csv_left_out(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "MAX_CSV_BYTES", 1000)  # draws.csv is larger
    text = render_report(run_dir, META, "")
    draws = _section(text, "tab-draws-csv")
    assert "too large to show here" in draws and "<table" not in draws
    assert "<table" in _section(text, "tab-summary-csv")


def test_markdown_converted(report: Path) -> None:
    doc = _section(report.read_text(), "doc-sizing-md")
    assert "<h4>Trial sizing</h4>" in doc
    assert "<strong>one-sided</strong>" in doc and "<code>0.025</code>" in doc
    assert "<ul><li>first point</li>" in doc
    assert "<table>" in doc and "<th>smallest n</th>" in doc
    assert '<td class="num">0.850 (0.036)</td>' in doc
    assert "<td>a|b</td>" in doc  # an escaped pipe stays in its cell


def test_config_in_words_and_provenance(report: Path) -> None:
    text = report.read_text()
    about = _plain(_section(text, "about"))
    assert "simulate" in about and "calibrated" in about
    assert "1,234 patients" in about
    assert "soc" in about and "il7" in about
    assert "hiv 75%" in about and "hematologic_malignancy 25%" in about
    assert "365 days" in about and "20220401" in about
    prov = _plain(_section(text, "provenance"))
    command = " ".join(META["command"])
    for s in (META["git_commit"], "uncommitted", command, "0.1.0", "3.11.7", "6.31",
              "c8fda556a188281c", "numpy 2.4.6"):  # fmt: skip
        assert s in prov, s
    assert re.search(r"report made \(UTC\)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", prov)
    files = _plain(_section(text, "files"))
    assert "patients.parquet" in files and "config.yaml" in files and "report.html" not in files
    config = (report.parent / "config.yaml").read_text()
    assert f"<details><summary>Full configuration</summary><pre>{html.escape(config)}</pre>" in text
    assert not list(report.parent.glob(".*tmp"))  # the atomic write left no temporary file


ECONOMICS = {"currency": "GBP", "wtp": 30000, "psa": {"draws": 20}}
TRIAL = {"designs": [{"name": "fixed"}, {"name": "asOF3"}], "sizing": {"n": [60, 90], "trials": 9}}
STUDY = {"name": "seed000", "study_n": 64, "replicates": 400}
CALIBRATION = {"params": [{"key": "model.damage_rate_per_day"}, {"low": 1}]}


@pytest.mark.parametrize(
    "cfg, words",
    [
        ({"task": "economics", "economics": ECONOMICS}, ["30,000 GBP per QALY", "PSA draws: 20"]),
        ({"task": "trial", "trial": TRIAL}, ["fixed, asOF3", "n = 60, 90", "9 simulated trials"]),
        ({"task": "study", "study": STUDY}, ["seed000", "64 patients per", "400 replicates"]),
        ({"task": "calibrate", "calibration": CALIBRATION}, ["model.damage_rate_per_day"]),
        ({}, ["A simulate run."]),  # nothing known: still a report
    ],
)
def test_config_in_words_per_task(tmp_path: Path, cfg: dict, words: list[str]) -> None:
    about = _plain(_section(render_report(tmp_path, {}, yaml.safe_dump(cfg)), "about"))
    for w in words:
        assert w in about, (w, about)


# --- headless Chromium ---------------------------------------------------------------------


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "chromium not found (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def _headless(exe: str, profile: Path, *args: str) -> str:
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """(root, base URL, requested paths) of a local HTTP server.

    Over file:// Chromium records no Resource Timing entries, so a linked file would go
    unnoticed; over HTTP every fetch is an entry and shows in the server's log too.
    """
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        thread.join()


def _browser_check(exe: str, report_text: str, root: Path, url: str, profile: Path) -> dict:
    # the report's own CSP would block the checker script; the check is of the content
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report_text)
    (root / "check.html").write_text(text.replace("</body>", CHECK_JS + "</body>"))
    dom = _headless(exe, profile, "--dump-dom", "--virtual-time-budget=5000", f"{url}/check.html")
    m = re.search(r'<pre id="check">(.*?)</pre>', dom, re.S)
    assert m, dom[-2000:]
    return json.loads(html.unescape(m.group(1)))


def test_chromium_shows_every_figure_and_loads_nothing(
    report: Path, served: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    exe = _chromium()
    root, url, requests = served
    check = _browser_check(exe, report.read_text(), root, url, tmp_path / "profile")
    assert check == {"images": len(PNGS), "loaded": len(PNGS), "resources": []}
    assert requests == ["/check.html"]

    shot = tmp_path / "shot.png"
    _headless(exe, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000",
              report.as_uri())  # fmt: skip
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert (pixels != pixels[0, 0]).any(axis=-1).mean() > 0.01  # not a blank page


def test_chromium_check_catches_a_linked_file(
    report: Path, served: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    """The browser check itself: a page linking a file and a missing image fails it."""
    exe = _chromium()
    root, url, requests = served
    shutil.copy(report.parent / "km.png", root / "km.png")
    broken = report.read_text().replace("</body>", '<img src="km.png"><img src="gone.png"></body>')
    check = _browser_check(exe, broken, root, url, tmp_path / "profile")
    assert check["images"] == len(PNGS) + 2
    assert check["loaded"] == len(PNGS) + 1
    assert sorted(check["resources"]) == [f"{url}/gone.png", f"{url}/km.png"]
    assert "/km.png" in requests
