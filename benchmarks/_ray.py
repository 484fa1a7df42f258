"""The Ray a benchmark runs its searches on: its own, or the one ``--smoke`` starts for all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ray_of_its_own(cpus: int | None = None, *, start: bool = False) -> Iterator[None]:
    """Shuts down, at the end, a Ray started inside the block (a search starts one where none runs).

    ``start``: starts it here, with ``cpus`` (None: the machine's). A Ray that ran before the
    block (``python -m benchmarks --smoke`` starts one for every benchmark: each start costs
    seconds of CPU) is used as it is and keeps running.
    """
    import ray

    from tune_stop.app.search import SearchOptions, init_ray

    running = ray.is_initialized()
    if start:
        init_ray(SearchOptions(num_cpus=cpus))
    try:
        yield
    finally:
        if not running and ray.is_initialized():
            ray.shutdown()
