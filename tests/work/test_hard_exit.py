"""The last way out (work/hard_exit.py): os._exit after the clean-up a normal exit does."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import textwrap

from tests.helpers import ROOT

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cvbench.work import lifeline
    from cvbench.work.hard_exit import cleanup_on_hard_exit, hard_exit
    from cvbench.work.temp_dirs import owned_dir

    lifeline.mark_main()  # claims multiprocessing's temp folder too
    folder = owned_dir("cvbench-test-")
    (folder / "f").write_text("x")
    print(folder, flush=True)
    with cleanup_on_hard_exit(lambda: Path(sys.argv[1]).write_text("cleaned")):
        hard_exit(3)
    """
)


def test_hard_exit_cleans_up_then_ends_with_the_status(tmp_path):
    script = tmp_path / "hard.py"
    script.write_text(SCRIPT)
    flag = tmp_path / "flag"
    res = subprocess.run(
        [sys.executable, str(script), str(flag)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert res.returncode == 3, res.stderr
    folder = res.stdout.split()[0]
    assert not os.path.exists(folder)
    assert flag.read_text() == "cleaned"
    pid = folder.rsplit("-", 2)[-2]
    assert glob.glob(os.path.join(tempfile.gettempdir(), f"cvbench-mp-{pid}-*")) == []
