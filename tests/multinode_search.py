"""Run by tests/test_cluster.py in its own process: a search on a 2-node ``ray.cluster_utils.Cluster``.

Prints one JSON line: the storage error without a shared path, the node ids trials ran
on, the cluster's node ids, and the number of stop reasons recorded.
"""

from __future__ import annotations

import json
import sys

import ray
from ray.cluster_utils import Cluster

from analysis import load_experiment
from search_spaces import load_space
from tune_stop.app.search import SearchOptions, run_search
from tune_stop.cluster import StorageError
from tune_stop.trainables import PerceptronTrainable


class NodeReportingTrainable(PerceptronTrainable):
    """Adds the id of the node the trial runs on to every result."""

    def step(self):
        result = super().step()
        result["node_id"] = ray.get_runtime_context().get_node_id()
        return result


def main(storage: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        space = load_space("perceptron-digits").with_overrides(num_samples=2, max_epochs=3, scheduler="fifo")
        out: dict[str, object] = {}
        try:
            run_search(space, SearchOptions(name="no-storage", verbose=0))
        except StorageError as error:
            out["error"] = str(error)
        summary = run_search(
            # A fresh actor per trial: the first two trials start together, one on each 1-CPU node.
            space,
            SearchOptions(storage_path=storage, name="multi", verbose=0, reuse_actors=False),
            trainable_cls=NodeReportingTrainable,
        )
        curves = load_experiment(summary.experiment_path)
        out["trial_nodes"] = sorted(set(curves["node_id"]))
        out["cluster_nodes"] = sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])
        out["reasons"] = len(summary.stop_reasons)
        out["trials"] = summary.num_trials
        out["experiment"] = str(summary.experiment_path)
        print(json.dumps(out))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
