"""Kill and resume: a SIGKILLed search finished with `--resume` decides as an uninterrupted one."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
SCRIPT = Path(sys.executable).with_name("tune-stop")
SEARCH = [
    "perceptron-digits",
    "--num-samples",
    "2",
    "--max-epochs",
    "12",
    "--scheduler",
    "asha",
    "--max-concurrent",
    "1",
    "--checkpoint-frequency",
    "2",
    "--num-cpus",
    "1",
    "--quiet",
]


def reasons(experiment: Path) -> dict[tuple[str, str], tuple[str, str]]:
    with (experiment / "stop_reasons.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len({row["trial_id"] for row in rows}) == len(rows), "a trial was recorded twice"
    return {(row["config_id"], row["fold"]): (row["stop_reason"], row["stop_epoch"]) for row in rows}


def test_sigkill_then_resume_finishes_with_the_same_decisions(ray_session, tmp_path, capsys):
    from tune_stop.app.cli import main

    # The uninterrupted search and the resumed one run here, on this session's Ray (a Ray start and the imports
    # cost seconds of CPU); the killed one in a process of its own, which a SIGKILL ends as it ends a user's.
    assert main(["search", *SEARCH, "--storage-path", str(tmp_path), "--name", "reference"]) == 0
    expected = reasons(tmp_path / "reference")
    assert len(expected) == 6

    experiment = tmp_path / "killed"
    log = (tmp_path / "killed.log").open("w")
    driver = subprocess.Popen(
        [str(SCRIPT), "search", *SEARCH, "--storage-path", str(tmp_path), "--name", "killed"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    deadline = time.monotonic() + 300
    finished = 0
    while time.monotonic() < deadline and driver.poll() is None:
        if (experiment / "stop_reasons.csv").is_file():
            finished = len(reasons(experiment))
            if finished >= 2:
                break
        time.sleep(0.2)  # polling the experiment folder, not waiting for a result
    assert driver.poll() is None, "the search ended before it could be killed"
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=60)
    assert 2 <= finished < 6

    capsys.readouterr()
    assert main(["search", "--resume", str(experiment)]) == 0
    assert "tune-stop: 6 trials of perceptron-digits" in capsys.readouterr().out
    assert reasons(experiment) == expected
