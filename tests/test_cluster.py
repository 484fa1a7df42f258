"""Cluster use: job submission to a real local head, a 2-node cluster, shared storage, URIs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from analysis import load_experiment, load_stop_reasons
from search_spaces import load_space
from tune_stop.app.search import SearchOptions, run_search
from tune_stop.cluster import check_shared_storage

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _end_process_group(pgid: int, grace_s: float = 5.0) -> None:
    """Ends every process of the process group ``pgid`` (SIGTERM, then SIGKILL after ``grace_s``).

    Ray's GCS server outlives a SIGTERM (seen with Ray 2.60), so the grace is short: a longer one
    only waits for the SIGKILL.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)  # raises ProcessLookupError once the group is gone
            time.sleep(0.5)  # waiting for processes to exit, not for a test to pass
        os.killpg(pgid, signal.SIGKILL)


def test_one_node_needs_no_shared_storage(ray_session, tmp_path):
    from tune_stop.cluster import alive_nodes

    assert len(alive_nodes()) == 1
    # A single node: Ray's local default is fine, and a given path is not probed (nothing written there).
    assert check_shared_storage(None) is None
    assert check_shared_storage(str(tmp_path / "local")) is None
    assert not (tmp_path / "local").exists()


def test_two_node_cluster_runs_trials_on_both_nodes_and_demands_shared_storage(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "multinode_search.py"), str(tmp_path / "shared")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=400,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "give --storage-path on storage every node shares" in out["error"]
    assert len(out["cluster_nodes"]) == 2
    assert out["trial_nodes"] == out["cluster_nodes"]  # trials ran on both nodes
    assert out["trials"] == 6 and out["reasons"] == 6  # 2 configurations x 3 folds
    assert out["experiment"] == str(tmp_path / "shared" / "multi")
    assert (tmp_path / "shared" / "multi" / "stop_reasons.csv").is_file()
    assert not (Path.home() / "ray_results" / "no-storage").exists()


@pytest.fixture
def another_rays_job_agent():
    """The job agent's default port (52365) taken, as by the agent of another Ray on this machine.

    Held by a listening socket for the test, or already held by another process.
    """
    squatter = socket.socket()
    with contextlib.suppress(OSError):  # already taken: the condition holds as it is
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("0.0.0.0", 52365))
        squatter.listen()
    yield
    squatter.close()


def test_ray_job_submit_with_working_dir(tmp_path, ray_session_afterwards, another_rays_job_agent):
    import ray

    ray.shutdown()  # this session's local Ray (only ours) gives its CPUs to the head started here
    # The job agent's HTTP port too: its default (52365) belongs to whichever Ray on this machine took it
    # first, and a head whose agent cannot bind it answers every `ray job submit` with "No available agent".
    port, dashboard, agent = free_port(), free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    ray_cli = str(BIN / "ray")
    temp_dir = tempfile.mkdtemp(prefix="ts-head-")  # short: Ray's socket paths live under it
    # `ray start` in a session of its own: the head's processes stay in its process group, so
    # ending that group ends this head and nothing else (`ray stop` ends every Ray here).
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--temp-dir",
            temp_dir,
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(dashboard),
            "--dashboard-agent-listen-port",
            str(agent),
            "--num-cpus",
            "2",
            "--include-dashboard",
            "true",
            "--disable-usage-stats",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        started, _ = head.communicate(timeout=180)
        assert head.returncode == 0, started[-3000:]
        # The shipped script: `ray job submit --working-dir .` running `python -m tune_stop.app.cli search`.
        command = [
            "bash",
            str(ROOT / "examples" / "submit.sh"),
            "perceptron-digits",
            str(tmp_path),
            "--max-epochs",
            "4",
            "--num-samples",
            "1",
            "--name",
            "job",
        ]
        job_env = {**env, "RAY_ADDRESS": f"http://127.0.0.1:{dashboard}", "GPUS_PER_TRIAL": "0"}
        # A head that has just started may not have its job agent yet; Ray says to try again. On a
        # busy machine the agent can take minutes: wait for it, and say so if it never comes.
        waited, deadline = time.monotonic(), time.monotonic() + 300
        while True:
            submit = subprocess.run(
                command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=400, cwd=ROOT, env=job_env
            )
            if "No available agent to submit job" not in submit.stderr:
                break
            assert time.monotonic() < deadline, (
                f"the Ray head's job agent did not register within {time.monotonic() - waited:.0f} s "
                "(`ray job submit` kept answering 'No available agent to submit job')"
            )
            time.sleep(2)  # waiting for the head's agent to register, not for a test to pass
        output = submit.stdout + submit.stderr
        assert submit.returncode == 0, output[-3000:]
        assert "succeeded" in output
        assert f"Results: {tmp_path / 'job'}" in output
    finally:
        _end_process_group(head.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)
    curves = load_experiment(tmp_path / "job")
    assert curves["trial_id"].nunique() == 3 and set(curves["fold"]) == {0, 1, 2}
    assert len(load_stop_reasons(tmp_path / "job")) == 3


def test_storage_uri(ray_session, tmp_path):
    space = load_space("perceptron-xor").with_overrides(max_epochs=3)
    uri = f"file://{tmp_path}"
    summary = run_search(space, SearchOptions(storage_path=uri, name="uri", verbose=0))
    assert summary.experiment_path == f"{uri}/uri"
    assert [row["stop_reason"] for row in summary.stop_reasons] == ["completed"] * 3
    assert (tmp_path / "uri" / "stop_reasons.csv").is_file()
    with pytest.raises(FileExistsError, match="already exists"):
        run_search(space, SearchOptions(storage_path=uri, name="uri", verbose=0))
