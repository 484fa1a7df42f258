"""Trainables that report the wall clock at the start and end of each epoch.

Tune's own ``timestamp`` has whole-second resolution and ``time_total_s`` is relative
to each trial's start; the benchmarks need epochs placed on one clock across trials.
"""

from __future__ import annotations

import time
from typing import Any

from tune_stop.trainables import GANTrainable, PerceptronTrainable


class _Clocked:
    def step(self) -> dict[str, Any]:
        started = time.time()
        result: dict[str, Any] = super().step()  # type: ignore[misc]
        result.update(clock_start=started, clock_end=time.time())
        return result


class ClockedPerceptron(_Clocked, PerceptronTrainable):
    """:class:`PerceptronTrainable` with ``clock_start`` and ``clock_end`` in every result."""


class ClockedGAN(_Clocked, GANTrainable):
    """:class:`GANTrainable` with ``clock_start`` and ``clock_end`` in every result."""


CLOCKED = {"perceptron": ClockedPerceptron, "gan": ClockedGAN}
