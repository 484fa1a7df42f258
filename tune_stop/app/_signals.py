"""SIGTERM (what ``kill``, Slurm and Kubernetes send) stops a search as Ctrl-C does.

``ray.init`` makes SIGTERM exit the driver at once (``sys.exit`` from inside ``Tuner.fit``),
which aborts Ray's core worker with a C stack dump and prints no summary. While a search
runs, SIGTERM instead asks Ray Tune to stop the way Ctrl-C does (its handler checkpoints
the experiment state one last time and ``fit`` returns), so the summary and the
``--resume`` command are printed and the exit code is 143 (128 + SIGTERM).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["Terminated", "sigterm_stops_the_search"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived before Ray Tune could take it as a stop request."""


@contextlib.contextmanager
def sigterm_stops_the_search() -> Iterator[Callable[[], bool]]:
    """Within the block, SIGTERM stops the search gracefully; yields whether it arrived.

    Ray Tune listens for SIGUSR1 (and SIGINT) while ``fit`` runs: SIGTERM is handed to
    that handler. Outside ``fit`` (before it starts) SIGTERM raises :class:`Terminated`.
    """
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        tune_handler = signal.getsignal(signal.SIGUSR1)
        if callable(tune_handler):
            tune_handler(signum, frame)
        else:
            raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGTERM, previous)
