"""For `scripts/gate_eval.py --ab` only: the faces op plus a known amount of extra real work,
with the very same output, so that an A/B job's detection rate is measured on a real slowdown
(never a sleep) that "output changed" cannot mask (the heavier faces TOML finds other boxes).

CVBENCH_EVAL_BLURS=k blurs each item's grey image k more times after detecting. A fixed k (not
a calibration inside each process) keeps the extra work identical in every side process;
gate_eval measures what one blur costs relative to the detection and picks k for +5 % / +21 %.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from cvbench.work.ops import detect_faces


def faces_plus(img: np.ndarray) -> list[list[int]]:
    boxes = detect_faces(img)
    blurs = int(os.environ.get("CVBENCH_EVAL_BLURS", "0") or 0)
    if blurs > 0:
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        for _ in range(blurs):
            cv2.GaussianBlur(gray, (9, 9), 0)
    return [[int(v) for v in b] for b in boxes]
