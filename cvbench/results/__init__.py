"""The results data model: one column table (schema.py), reading any schema version (read.py),
writing CSV/JSON/Markdown atomically (write.py), github-action-benchmark export (gab.py) and
the per-group summary (summary.py). Nothing here imports cv2, psutil or the models."""
