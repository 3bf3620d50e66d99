"""Temporary folders named after the process that owns them, so that what a killed process
left behind can be recognised and removed by the next run: ``<prefix><pid>-<random>`` in the
temp folder. A process killed with SIGKILL runs no clean-up; the next cvbench does it for it.

Used for the A/B job folders, multiprocessing's own temp folder (the fork server's socket:
``pymp-*`` otherwise, left behind by every kill and every ``os._exit``), and dask's scratch
space (``dask-scratch-space`` otherwise, left behind by every LocalCluster)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from cvbench.work.lifeline import pid_alive


def remove_stale(prefix: str, base: str | None = None) -> list[Path]:
    """Remove ``<prefix><pid>-*`` folders whose process is gone (in ``base``, default the
    temp folder); the folders removed."""
    removed = []
    for path in Path(base or tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = path.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


_OWNED: list[Path] = []  # made by this process: removed by remove_owned() before an os._exit


def owned_dir(prefix: str, base: str | None = None) -> Path:
    """A new folder of this process (in ``base``, default the temp folder), after removing
    those of dead ones."""
    remove_stale(prefix, base)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base))
    _OWNED[:] = [p for p in _OWNED if p.exists()]  # those already removed: forgotten
    _OWNED.append(path)
    return path


def remove_owned() -> None:
    """Remove every folder this process made that is still there (the way out past os._exit,
    work/hard_exit.py; a normal exit removes each where it was made)."""
    if os.getpid() != _owner_pid:
        return  # a forked child inherited the list: the folders are its parent's
    for path in _OWNED:
        shutil.rmtree(path, ignore_errors=True)


_owner_pid = os.getpid()  # whose _OWNED it is (a forked child inherits the module as it was)
MP_PREFIX = "cvbench-mp-"


# The fork server listens on <folder>/listener-XXXXXXXX, an AF_UNIX path of at most 107 bytes:
# "/cvbench-mp-<pid>-XXXXXXXX" (at most 30) + "/listener-XXXXXXXX" (18) after the base.
SUN_PATH_MAX = 107
MP_SUFFIX_BYTES = 48


def socket_base() -> str | None:
    """The temp folder, or /tmp when a long TMPDIR (a test runner's, a deep home) would make
    the fork server's socket path too long for AF_UNIX; None when neither fits."""
    for base in (tempfile.gettempdir(), "/tmp"):
        if len(os.fsencode(base)) + MP_SUFFIX_BYTES <= SUN_PATH_MAX and os.access(base, os.W_OK):
            return base
    return None


def claim_multiprocessing_tempdir() -> None:
    """Give multiprocessing (fork server socket, resource tracker) a folder of ours before it
    makes its own ``pymp-*`` one: removed at a normal exit by the same finalizer
    multiprocessing registers for its own, and by the next run after a kill."""
    from multiprocessing import process, util

    config = process.current_process()._config
    if config.get("tempdir") is not None:
        return  # already made (a fork server runs): multiprocessing removes it at exit
    base = socket_base()
    if base is None:
        return  # nowhere short enough: multiprocessing's own choice (and its error)
    owned = owned_dir(MP_PREFIX, base)
    _OWNED.remove(owned)  # multiprocessing's, not a run's: hard_exit removes it at the very end
    path = str(owned)
    config["tempdir"] = path
    util.Finalize(None, shutil.rmtree, args=(path,), kwargs={"ignore_errors": True},
                  exitpriority=-100)  # fmt: skip
