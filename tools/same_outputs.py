"""Runs ``tune-stop recommend`` and ``report`` at two git revisions on the same curves and compares the files.

A restructuring must not change what a user gets: this script checks out both revisions
(``git worktree``), runs each one's own ``tune-stop`` console entry (read from its
``pyproject.toml``) with the same arguments on the same experiment folders or CSVs, and
compares the report files (``recommendations.csv``, ``policies.csv``, ``recommendations.md``,
``stoppers.yaml``, the plots) byte for byte, and what each command printed, with the report
folder's own path replaced by a placeholder.

Usage::

    python tools/same_outputs.py BEFORE AFTER EXPERIMENT [EXPERIMENT ...] [--flags "--asha" --flags ""]

BEFORE and AFTER are git revisions; ``.`` is the working tree as it is.

Exits 0 when every file and every printed line agree, 1 otherwise (the differences are printed).
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _worktree(revision: str, folder: Path) -> Path:
    """A checkout of ``revision`` in ``folder``; ``.`` is this working tree as it is."""
    if revision == ".":
        return ROOT
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision], check=True, capture_output=True
    )
    return folder


def _entry(tree: Path) -> str:
    scripts = tomllib.loads((tree / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["tune-stop"].split(":")
    return f"import sys; from {module} import {function} as main; sys.exit(main(sys.argv[1:]))"


def _run(tree: Path, arguments: list[str], out: Path) -> str:
    """What the command printed, with the report folder and the source tree replaced by placeholders."""
    environment = {**os.environ, "PYTHONPATH": str(tree), "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run(
        [sys.executable, "-c", _entry(tree), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=out.parent,
    )
    text = f"exit {done.returncode}\n{done.stdout}{done.stderr}"
    return text.replace(str(out), "<OUT>").replace(str(tree), "<TREE>")


def _compare(name: str, before: str | bytes, after: str | bytes) -> list[str]:
    if before == after:
        return []
    if isinstance(before, bytes) or isinstance(after, bytes):
        return [f"{name}: differs ({len(before)} and {len(after)} bytes)"]
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=1)
    return [f"{name}:", *list(diff)[:40]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--flags", action="append", help="extra recommend flags, one run per --flags")
    args = parser.parse_args(argv)
    problems: list[str] = []
    runs = 0
    with tempfile.TemporaryDirectory(prefix="same-outputs-") as scratch:
        trees = {
            side: _worktree(revision, Path(scratch) / side)
            for side, revision in (("before", args.before), ("after", args.after))
        }
        try:
            for experiment in args.experiments:
                for flags in args.flags or [""]:
                    printed: dict[str, str] = {}
                    outs: dict[str, Path] = {}
                    for side, tree in trees.items():
                        out = Path(scratch) / f"{side}-out" / "report"
                        out.parent.mkdir(exist_ok=True)
                        printed[side] = _run(
                            tree, ["recommend", experiment, "--out", str(out), *shlex.split(flags)], out
                        )
                        if Path(experiment).is_dir():
                            printed[side] += _run(tree, ["report", experiment], out)
                        outs[side] = out
                    label = f"{experiment} {flags}".strip()
                    problems += _compare(f"{label}: printed", printed["before"], printed["after"])
                    names = sorted({p.name for side in outs.values() if side.is_dir() for p in side.iterdir()})
                    for name in names:
                        before, after = (outs[s] / name for s in ("before", "after"))
                        if not (before.exists() and after.exists()):
                            problems.append(f"{label}: {name} only {'before' if before.exists() else 'after'}")
                            continue
                        binary = name.endswith(".png")
                        read = (lambda p: p.read_bytes()) if binary else (lambda p: p.read_text())
                        problems += _compare(f"{label}: {name}", read(before), read(after))
                    runs += 1
                    for out in outs.values():
                        subprocess.run(["rm", "-rf", str(out.parent)], check=True)
        finally:
            for tree in trees.values():
                if tree == ROOT:
                    continue
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True
                )
    for line in problems:
        print(line)
    print(f"{runs} runs compared: {'the same files and output' if not problems else 'DIFFERENCES above'}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
