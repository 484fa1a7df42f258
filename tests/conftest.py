from __future__ import annotations

import os
import shutil
import tempfile

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


# This test session's own Ray temp dir (short: Ray's socket paths live under it), so its
# Ray never shares files with another Ray on the machine.
_RAY_TEMP_DIR = tempfile.mkdtemp(prefix="ts-ray-")


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray of this test session's own, with 2 CPUs, started once and reused."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=_RAY_TEMP_DIR)
    return ray


def pytest_sessionfinish(session, exitstatus):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    shutil.rmtree(_RAY_TEMP_DIR, ignore_errors=True)
