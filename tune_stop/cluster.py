"""Cluster checks: is the storage path shared by every node of the Ray cluster?"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import ray

__all__ = ["StorageError", "alive_nodes", "check_shared_storage"]


class StorageError(ValueError):
    """The experiment's storage path cannot be seen by every node of the cluster."""


def alive_nodes() -> list[dict[str, Any]]:
    """The cluster's live nodes (``ray.nodes()`` entries)."""
    return [node for node in ray.nodes() if node.get("Alive")]


@ray.remote(num_cpus=0)
def _can_see(path: str) -> bool:
    return Path(path).is_file()


def check_shared_storage(storage_path: str | None) -> None:
    """On a multi-node cluster, checks that every node sees the storage path.

    Trials write checkpoints and sample grids where they run, and the driver reads them
    back, so a path local to one node loses them. A URI (``s3://``, ``gs://``, ...) is
    left to Ray; a filesystem path is probed: the driver writes a marker file and a
    zero-CPU task on each node looks for it.

    Raises:
        StorageError: If the cluster has several nodes and no storage path was given,
            or a node cannot see the path.
    """
    nodes = alive_nodes()
    if len(nodes) < 2:
        return
    if storage_path is None:
        raise StorageError(
            f"the Ray cluster has {len(nodes)} nodes: give --storage-path on storage every node shares "
            "(a shared filesystem path or a URI such as s3://bucket/prefix); ~/ray_results is local to each node"
        )
    if "://" in storage_path:
        return
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    folder = Path(storage_path).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f".tune-stop-probe-{uuid.uuid4().hex}"
    marker.write_text("probe")
    try:
        probes = {
            node["NodeManagerAddress"] + " (" + node["NodeID"][:8] + ")": _can_see.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(str(marker))
            for node in nodes
        }
        blind = [name for name, probe in probes.items() if not ray.get(probe, timeout=120)]
    finally:
        marker.unlink(missing_ok=True)
    if blind:
        raise StorageError(
            f"--storage-path {folder} is not shared: node(s) {', '.join(blind)} cannot see it; "
            "use a shared filesystem or a URI such as s3://bucket/prefix"
        )
