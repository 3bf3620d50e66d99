"""cvbench: the same OpenCV workload under every Python concurrency model, measured."""

__version__ = "0.1.0"
