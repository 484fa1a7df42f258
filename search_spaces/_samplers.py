"""Samplers of a space file (``{loguniform: [low, high]}``) and the error that names a file's problem."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeGuard

from ray import tune

__all__ = ["SAMPLERS", "SpaceError", "domain", "is_sampler"]

SAMPLERS = ("choice", "uniform", "loguniform", "randint", "grid")


class SpaceError(ValueError):
    """A problem in a search-space file, naming the file, the key and what is allowed."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


def is_sampler(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in SAMPLERS


def domain(source: str, key: str, spec: Mapping[str, Any]) -> Any:
    """A Ray Tune sampling domain for ``{sampler: arguments}`` (not ``grid``)."""
    ((kind, args),) = spec.items()
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise SpaceError(source, key, f"choice needs a non-empty list, got {args!r}")
        return tune.choice(args)
    bounds_ok = (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, numbers.Real) and not isinstance(a, bool) for a in args)
        and all(math.isfinite(a) for a in args)
        and args[0] < args[1]
    )
    if not bounds_ok:
        raise SpaceError(source, key, f"{kind} needs [low, high] with low < high, got {args!r}")
    low, high = args
    if kind == "uniform":
        return tune.uniform(low, high)
    if kind == "loguniform":
        if low <= 0:
            raise SpaceError(source, key, f"loguniform needs 0 < low, got {args!r}")
        return tune.loguniform(low, high)
    if not all(isinstance(a, numbers.Integral) for a in args):
        raise SpaceError(source, key, f"randint needs integer bounds, got {args!r}")
    return tune.randint(int(low), int(high))
