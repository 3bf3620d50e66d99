"""compare, history, doctor and validate never replace one of their own inputs, nor (without
--force) a file that is not a cvbench output: `compare --markdown BASE`, `compare --gab
CURRENT` and `history --json <an input>` used to overwrite it and exit 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cvbench import cli as climod
from tests.helpers import ROOT

RUN = ROOT / "tests" / "data" / "quick-run.csv"


def _invoke(*args: str):
    return CliRunner().invoke(climod.cli, list(args))


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, Path]:
    base, current = tmp_path / "base.csv", tmp_path / "current.csv"
    shutil.copy(RUN, base)
    shutil.copy(RUN, current)
    return base, current


def _refused(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and all(n in errors[0] for n in needles), res.output


@pytest.mark.parametrize("option", ["--markdown", "--gab"])
@pytest.mark.parametrize("which", [0, 1])
def test_compare_never_writes_over_its_inputs(results, option, which):
    before = [p.read_bytes() for p in results]
    target = str(results[which])
    _refused(_invoke("compare", *map(str, results), option, target, "--force"), "an input")
    assert [p.read_bytes() for p in results] == before


def test_history_never_writes_over_a_file_it_reads(results, tmp_path):
    before = results[0].read_bytes()
    _refused(_invoke("history", str(tmp_path), "--json", str(results[0])), "an input")
    assert results[0].read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [
        ("compare", "{base}", "{current}", "--markdown"),
        ("compare", "{base}", "{current}", "--gab"),
        ("history", "{base}", "{current}", "--json"),
        ("doctor", "--sample", "50ms", "--json"),
    ],
)
def test_a_file_that_is_not_ours_needs_force(results, tmp_path, command):
    mine = tmp_path / "notes.md"
    mine.write_text("my own notes\n")
    args = [a.format(base=results[0], current=results[1]) for a in command]
    _refused(_invoke(*args, str(mine)), "not a cvbench result", "--force")
    assert mine.read_text() == "my own notes\n"
    res = _invoke(*args, str(mine), "--force")
    assert res.exit_code in (0, 1), res.output  # 1: a regression or a warning, not refused
    assert mine.read_text() != "my own notes\n"
    again = _invoke(*args, str(mine))  # now ours: a second run replaces it without --force
    assert again.exit_code in (0, 1), again.output


def test_the_ci_job_summary_is_appended_to_even_if_not_ours(results, tmp_path, monkeypatch):
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = _invoke("compare", *map(str, results), "--markdown", str(summary))
    assert res.exit_code == 0, res.output
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## cvbench compare" in text
