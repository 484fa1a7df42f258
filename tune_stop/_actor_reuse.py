"""Actor reuse that never kills an actor while it starts (a workaround for Ray Tune 2.x).

With ``reuse_actors``, when a trial ends Ray Tune hands its idle actor to the next
pending trial; if that trial's own actor already holds its resources and is starting,
Tune kills it (``TuneController._maybe_reuse_cached_actor``). The swap is meant for
actors still waiting for resources (a cluster scaling up), where it saves the wait. When
trials are shorter than an actor's start-up (seconds to import torch), it repeats for the
whole search: every trial runs on the first actor while a stream of new actors starts,
importing torch on the same CPUs, and is killed.

:func:`keep_starting_actors` makes Tune skip the swap for a trial whose actor holds its
resources; the idle actor goes to a trial whose actor is still waiting for them instead.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["keep_starting_actors"]


@contextmanager
def keep_starting_actors() -> Iterator[None]:
    """Within the block, Tune's actor reuse leaves starting actors alone (see the module)."""
    from ray.tune.execution.tune_controller import TuneController

    original = getattr(TuneController, "_maybe_reuse_cached_actor", None)
    if original is None or getattr(original, "keeps_starting_actors", False):
        yield  # another Ray version, or already applied
        return

    @functools.wraps(original)
    def maybe_reuse_cached_actor(controller: Any, trial: Any) -> bool:
        own_actor = getattr(controller, "_trial_to_actor", {}).get(trial)
        manager = getattr(controller, "_actor_manager", None)
        if (
            own_actor is not None
            and manager is not None
            and trial not in getattr(controller, "_resetting_trials", ())
            and manager.is_actor_started(own_actor)
        ):
            return False
        return bool(original(controller, trial))

    maybe_reuse_cached_actor.keeps_starting_actors = True  # type: ignore[attr-defined]
    TuneController._maybe_reuse_cached_actor = maybe_reuse_cached_actor  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        TuneController._maybe_reuse_cached_actor = original  # type: ignore[method-assign]
