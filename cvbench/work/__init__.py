"""What a workload runs: the OpenCV ops (ops.py), the picklable per-item callable shipped to
workers (item.py), the Job every model gets (job.py) and the digests (digest.py).

Deliberately empty: a process worker imports only the light modules it needs.
"""
