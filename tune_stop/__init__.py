"""tune-stop: search stopping policies with Ray Tune and recommend thresholds."""

__version__ = "0.1.0"
