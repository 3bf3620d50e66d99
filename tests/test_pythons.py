"""Every CPython from 3.11: a framework that cannot load here is a row with the reason.

curio 1.6 dies at import on 3.12+ (`multiprocessing.connection.CHALLENGE` is gone); these tests
make imports fail for real (a blocked submodule, the removed constant) rather than mocking
cvbench, and check that nothing of cvbench needs the framework before a model runs.
"""

from __future__ import annotations

import importlib.metadata
import multiprocessing.connection
import subprocess
import sys

import pytest

import cvbench
from cvbench.models import MODELS
from cvbench.models.curio_ import Curio, CurioProcesses, CurioThreads

CURIOS = (Curio, CurioThreads, CurioProcesses)


@pytest.fixture
def fresh_curio():
    """curio unimported for the test; afterwards exactly the modules that were there before (a
    failed import leaves half of curio's submodules behind, new objects a later test would mix
    with the old package)."""
    saved = {k: v for k, v in sys.modules.items() if k == "curio" or k.startswith("curio.")}
    for name in saved:
        del sys.modules[name]
    yield
    for name in [k for k in sys.modules if k == "curio" or k.startswith("curio.")]:
        del sys.modules[name]
    sys.modules.update(saved)


def test_a_framework_that_fails_to_import_is_an_unsupported_row(fresh_curio, tmp_path):
    sys.modules["curio.channel"] = None  # `import curio` now fails inside curio, as on 3.12
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for cls in CURIOS:
        reason = cls.unavailable()
        assert reason is not None, cls.name
        assert reason.startswith(f"curio does not load on Python {version}: ModuleNotFoundError")
        assert "curio.channel" in reason
    res = cvbench.run(workload="threshold", models="curio,curio+processes", quick=True,
                      out=str(tmp_path))  # fmt: skip
    rows = {r["model"]: r for r in res.rows}
    assert set(rows) == {"curio", "curio+processes"}
    for row in rows.values():
        assert row["status"] == "unsupported"
        assert "curio does not load on Python" in row["error"]
        assert "curio.channel" in row["error"]


@pytest.mark.skipif(
    sys.version_info >= (3, 12) or importlib.metadata.version("curio") != "1.6",
    reason="reproduces upstream curio 1.6 on a 3.11 interpreter only",
)
def test_the_3_12_curio_failure_itself_is_a_reason(fresh_curio, monkeypatch):
    """Python 3.12 made multiprocessing.connection.CHALLENGE private: take it away here."""
    monkeypatch.delattr(multiprocessing.connection, "CHALLENGE")
    reason = Curio.unavailable()
    assert reason is not None
    assert "AttributeError" in reason and "CHALLENGE" in reason


def test_curio_loads_on_this_python_with_the_dist_pyproject_picks():
    """pyproject.toml: curio on 3.11, curio-compat on 3.12+ (same `curio` package)."""
    want = "curio" if sys.version_info < (3, 12) else "curio-compat"
    assert Curio.requires == (want,)
    assert importlib.metadata.version(want)
    assert Curio.unavailable() is None


def test_every_model_is_available_or_says_why():
    for name, cls in MODELS.items():
        reason = cls.unavailable()
        assert reason is None or (isinstance(reason, str) and reason.strip()), name


def test_help_and_models_do_not_import_curio():
    """`import cvbench.models`, `--help` and every command's --help work where curio cannot."""
    code = (
        "import sys; sys.modules['curio'] = None\n"
        "import click, cvbench.models\n"
        "from cvbench.cli import cli\n"
        "from click.testing import CliRunner\n"
        "names = cli.list_commands(click.Context(cli))\n"
        "assert 'run' in names and 'models' in names, names\n"
        "for args in [['--help']] + [[n, '--help'] for n in names]:\n"
        "    r = CliRunner().invoke(cli, args)\n"
        "    assert r.exit_code == 0, (args, r.output, r.exception)\n"
        "assert 'curio' not in sys.modules or sys.modules['curio'] is None\n"
        "from cvbench.models import MODELS\n"
        "print(MODELS['curio'].unavailable())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        f"{Curio.requires[0]} is not installed (pip install {Curio.requires[0]})"
    )
