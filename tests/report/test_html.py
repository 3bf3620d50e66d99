"""The HTML report: well-formed, self-contained, and it renders in a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="the report needs the plot extra (matplotlib)")


from cvbench.commands.report import report_cmd
from cvbench.report.html import write_report
from tests.helpers import QUICK_RUN

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class TagChecker(HTMLParser):
    """Every non-void element closed in order; collects the resource URLs it references."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


@pytest.fixture(scope="session")
def real_run() -> dict[str, Path]:
    return QUICK_RUN


@pytest.fixture(scope="session")
def report(real_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    path, notes = write_report(real_run["json"], out)
    assert path == out and notes == []
    return out


def check(text: str) -> TagChecker:
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    p = TagChecker()
    p.feed(text)
    p.close()
    assert p.errors == [] and p.stack == [], (p.errors, p.stack)
    ET.fromstring(text.split("\n", 1)[1])  # XHTML-compatible: an XML parser accepts it too
    return p


def test_report_is_well_formed_and_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    p = check(text)
    assert all(u.startswith(("data:", "#")) for u in p.urls), p.urls
    assert "<script" not in text and "http://" not in text.replace("http-equiv", "")
    assert p.tags["img"] == 8  # scaling, latency, lag, switches, 2 timelines, predicted, budget
    assert p.tags["table"] >= 5  # environment + throughput, switches, latency, responsiveness
    for heading in ("Throughput", "Context switches", "Per-item latency", "Responsiveness"):
        assert heading in text
    assert "Nothing was skipped" in text
    assert "processes" in text and "asyncio" in text


def test_report_gives_the_overhead_its_ci_pairs_and_drift(real_run, tmp_path: Path) -> None:
    import json

    from cvbench.overhead import paired_overhead

    doc = json.loads(Path(real_run["json"]).read_text())
    doc["harness_overhead"] = {
        "threshold": paired_overhead([(0.95 * b, b) for b in (0.1, 0.12, 0.11, 0.1, 0.13)]),
        "faces": paired_overhead([(f * 0.2, 0.2) for f in (0.99, 1.01, 1.0, 1.02, 0.98)]),
    }
    src = tmp_path / "r.json"
    src.write_text(json.dumps(doc))
    out, _ = write_report(src, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8").split("Harness overhead")[1]
    for workload, o in doc["harness_overhead"].items():
        row = re.search(rf"<tr><td>{workload}</td>.*?</tr>", text)
        ci = o["ci_pct"]
        assert row is not None and f"{o['overhead_pct']:+.2f} %" in row.group(0)
        assert f"{ci[0]:+.2f} to {ci[1]:+.2f} %" in row.group(0) and ">5<" in row.group(0)
        assert ("drift, not a result" in row.group(0)) == (workload == "threshold")


def test_report_from_csv_notes_what_is_missing(real_run, tmp_path: Path) -> None:
    r = CliRunner().invoke(report_cmd, [str(real_run["csv"]), "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "note:" in r.stderr and "per-item records" in r.stderr
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    p = check(text)
    assert p.tags["img"] == 4  # scaling, switches, predicted, budget: the rows' charts
    assert "<li>" in text and "timeline" in text


def _chromium() -> str | None:
    for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if c and os.access(c, os.X_OK):
            return c
    return None


@pytest.mark.slow  # a subprocess or a wait of seconds: the full tier
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    exe = _chromium()
    if exe is None:
        print("chromium not installed: browser check skipped (apt-get install chromium)")
        pytest.skip("chromium not installed (Debian: apt-get install chromium)")
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1200,2000", "--enable-logging=stderr", "--v=0",
           report.resolve().as_uri()]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    console = [ln for ln in r.stderr.splitlines() if re.search(r":CONSOLE[:(]", ln)]
    assert console == [], console
    assert shot.exists(), r.stderr[-2000:]
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(shot)
    assert img.shape[:2] == (2000, 1200)
    rgb = img[..., :3].reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 50, "blank screenshot"
    assert float((rgb < 0.5).any(axis=1).mean()) > 0.01, "almost no dark (text) pixels"
