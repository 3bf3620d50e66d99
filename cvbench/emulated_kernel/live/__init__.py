"""The live kernels: real Python code scheduled by the policies of ``..policies``.

- ``greenlets.py``: ``LiveKernel``, greenlets on one OS thread preempted by a timer signal
  (the ``kernel`` model, ``models/kernel_greenlets.py``); needs the ``greenlet`` package;
- ``processes.py``: ``ProcKernel``, M emulated CPUs whose tasks are worker processes,
  enforced with SIGSTOP/SIGCONT (the ``kernel-proc`` model, ``models/kernel_processes.py``);
- ``worker_pool.py``: ``WorkerPool``, the parent side of those worker processes
  (``cvbench.work.proc_worker``; workers import cv2, the parent does not).

Linux (POSIX signals, ``/proc``) only.  Nothing here imports the simulator.
"""
