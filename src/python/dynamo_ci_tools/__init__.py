"""CI tools for Dynamo images: a frontend soak test and Prometheus /metrics snapshots.

Standard library only, so the same wheel works in every backend's venv (which has no pip).
Run as `python -m dynamo_ci_tools <command>`: the images' wheel installer creates no
console scripts.
"""

# Must match the python_distribution's version in BUILD (wheel_test checks it).
__version__ = "0.1.0"
