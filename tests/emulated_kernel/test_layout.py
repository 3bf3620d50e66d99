"""The emulated kernel's sub-packages import only what their docstrings say."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cvbench.emulated_kernel as ek

ROOT = Path(ek.__file__).parent


def _imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, module) of every import in ``path``, nested ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(0, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.level, node.module or ""))
    return out


def test_sim_and_policies_are_stdlib_only():
    for sub in ("sim", "policies"):
        for path in sorted((ROOT / sub).glob("*.py")):
            for level, mod in _imports(path):
                where = f"{path.relative_to(ROOT)} imports {'.' * level}{mod}"
                if level == 0:
                    assert mod.split(".")[0] in sys.stdlib_module_names, where
                elif level == 2:  # from the emulated kernel: only its policies
                    assert mod.split(".")[0] == "policies", where
                else:
                    assert level == 1, where


def test_importing_the_package_loads_no_heavy_module():
    code = (
        "import sys, cvbench.emulated_kernel\n"
        "heavy = {'cv2', 'numpy', 'greenlet', 'psutil'} & set(sys.modules)\n"
        "live = [m for m in sys.modules if m.startswith(('cvbench.emulated_kernel.live',"
        " 'cvbench.emulated_kernel.validate'))]\n"
        "print(sorted(heavy), live)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"
