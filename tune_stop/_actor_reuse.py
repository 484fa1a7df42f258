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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tune_stop._compat import patched_reuse_cached_actor

__all__ = ["keep_starting_actors"]


def _keep_own_actor(trial: Any, own_actor: Any, is_started: Callable[[Any], bool]) -> bool:
    """Keep a trial's own actor once it holds its resources (it is starting or started)."""
    return own_actor is not None and bool(is_started(own_actor))


@contextmanager
def keep_starting_actors() -> Iterator[None]:
    """Within the block, Tune's actor reuse leaves starting actors alone (see the module)."""
    with patched_reuse_cached_actor(_keep_own_actor):
        yield
