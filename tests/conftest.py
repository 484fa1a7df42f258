from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


# The suite writes only under its own temporary folders. Ray's trainables (and any search
# given no storage path) write to ~/ray_results, a path Ray reads from HOME when it is
# imported: HOME points into this session's temporary folder, here and in every process
# the tests start, before anything imports Ray.
_HOME = tempfile.mkdtemp(prefix="ts-home-")
_USER_HOME = os.path.expanduser("~")
os.environ["HOME"] = _HOME

# This test session's own Ray temp dir (short: Ray's socket paths live under it), so its
# Ray never shares files with another Ray on the machine.
_RAY_TEMP_DIR = tempfile.mkdtemp(prefix="ts-ray-")
# The Rays that the processes it starts (a `tune-stop search`, a benchmark) start locally go there too:
# with two test workers, each worker's under its own folder.
os.environ["RAY_TMPDIR"] = _RAY_TEMP_DIR


#: CPUs of each test worker's Ray: one trial at a time, so a search starts one trial actor (each imports
#: torch: about 9 CPU-seconds), and the two test workers' Rays together have the machine's 2 cores. Tests
#: of concurrency ask for half a CPU per trial.
SESSION_CPUS = 1


def start_session_ray():
    """This test session's own local Ray, with :data:`SESSION_CPUS` (whatever the machine has), unless one runs."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=SESSION_CPUS, include_dashboard=False, log_to_driver=False, _temp_dir=_RAY_TEMP_DIR)
    return ray


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray of this test session's own, with :data:`SESSION_CPUS`, started once and reused."""
    return start_session_ray()


@pytest.fixture
def ray_session_afterwards():
    """For a test that ends the session's Ray: the tests after it get it back, with its CPUs."""
    yield
    start_session_ray()


def _ray_is_running() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


_RAY_BEFORE = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_RAY_BEFORE] = _ray_is_running()  # before any fixture of the test starts it


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item):
    """The fast set (``-m "not e2e"``) starts no Ray: a test that does must be marked e2e."""
    if item.get_closest_marker("e2e") is None and not item.stash.get(_RAY_BEFORE, True) and _ray_is_running():
        pytest.fail(f"{item.nodeid} started Ray: mark it e2e (the fast set starts no Ray)")


@pytest.fixture(scope="session")
def random_fid_network_state():
    """The state dict of pytorch-fid's Inception network, randomly initialised (seeded) once per session.

    Random weights stand in for the real file, which cannot be downloaded here; building the
    network costs about a second, so the tests share one (read-only).
    """
    import torch

    from tune_stop._compat import fid_inception_network

    torch.manual_seed(0)
    return fid_inception_network().state_dict()


def pytest_sessionfinish(session, exitstatus):
    if _ray_is_running():  # never imports Ray (the xdist controller has none)
        sys.modules["ray"].shutdown()
    shutil.rmtree(_RAY_TEMP_DIR, ignore_errors=True)
    shutil.rmtree(_HOME, ignore_errors=True)
