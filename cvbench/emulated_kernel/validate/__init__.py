"""``cvbench validate``: the emulation against the running Linux scheduler.

- ``sim_vs_linux.py``: the simulator's CFS/EEVDF shares, slices and waits against Linux's for
  spin loops of several nice values on one core;
- ``proc_vs_linux.py`` (``--real-work``): the process kernel (``live/processes.py``) against
  Linux, both on real cv2 work (imports ``cvbench.workloads``, so cv2, when it runs).

Imports ``cvbench.measure.kernel_config`` (stdlib only) for the host's HZ.  Linux only
(``/proc/<pid>/schedstat``, ``os.setpriority``, ``sched_setaffinity``).
"""
