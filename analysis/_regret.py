"""Regret: the loss of the target at a stop against a reference, relative to it or to one scale."""

from __future__ import annotations

import numpy as np

__all__ = ["relative_regret"]


def relative_regret(
    at_stop: np.ndarray, reference: np.ndarray, target_sign: float, scale: float | None = None
) -> np.ndarray:
    """``sign * (at_stop - reference) / |reference|`` (absolute when the reference is 0); inf if non-finite.

    ``scale``: divide by this one number instead of each reference (:attr:`CurveSet.regret_scale`): a regret in
    the target's own units, as a share of it.
    """
    difference = target_sign * (at_stop - reference)
    if scale is not None:
        return np.where(np.isfinite(at_stop), difference / scale + 0.0, np.inf)
    scale_of = np.where(reference == 0, 1.0, np.abs(reference))
    regret = difference / scale_of + 0.0  # + 0.0: a stop at the reference is 0, never -0
    return np.where(np.isfinite(at_stop), regret, np.inf)
