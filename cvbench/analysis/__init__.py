"""What results mean over time and between runs: the regression gate (gate.py) and the
change points of a history (history.py). Reads results files; never imports cv2 or the models."""
