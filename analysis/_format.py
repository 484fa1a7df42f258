"""How the report files write numbers: shares in percent, intervals, counts (one place for every file)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis._snapshot import unkept

if TYPE_CHECKING:
    from analysis._recommend import Analysis

__all__ = ["as_given", "configurations", "percent", "regret", "share", "span", "value", "within", "worse"]


def percent(part: Any) -> str:
    """A share in percent, one decimal."""
    number = float(part)
    # + 0.0 turns a negative zero (and what rounds to one) into 0.0%, not -0.0%.
    return "n/a" if not np.isfinite(number) else f"{round(100 * number, 1) + 0.0:.1f}%"


def regret(part: Any, scale: float | None = None) -> str:
    """A regret (a share) in percent, or, with ``scale`` (a tolerance given in the target's points), the loss in
    those points: the share (to 6 decimals: a millionth of ``scale``) times ``scale``, 3 significant digits."""
    if scale is None:
        return percent(part)
    number = round(float(part), 6) if np.isfinite(float(part)) else float(part)
    # + 0.0 turns a negative zero (and what rounds to one) into 0, as in percent.
    return "n/a" if not np.isfinite(number) else f"{float(f'{number * scale:.3g}') + 0.0:g}"


def as_given(analysis: Analysis, share: Any, in_percent: Callable[[Any], str] = percent) -> str:
    """A regret (a share) as the user gave the tolerance: in the target's points (``--tolerance-points`` or
    ``--tolerance-sd``: :attr:`Analysis.points_scale`), else in percent (``in_percent``: how)."""
    scale = analysis.points_scale
    if scale is None:
        return in_percent(share)
    return f"{regret(share, scale)} {unkept(analysis.target, analysis.kept_by)} points"


def span(point: Any, low: Any, high: Any, scale: float | None = None) -> str:
    """``point [low, high]`` in percent, or in the target's points with ``scale`` (:func:`regret`)."""
    if not np.isfinite(float(point)):
        return "n/a"
    return f"{regret(point, scale)} [{regret(low, scale)}, {regret(high, scale)}]"


def value(number: Any) -> str:
    """A parameter value in 4 significant digits."""
    number = float(number)
    return "n/a" if not np.isfinite(number) else f"{number:.4g}"


def worse(regret: Any) -> str:
    """``0.4% worse``, or ``0.3% better`` where stopping gave the better model."""
    number = float(regret)
    return f"{percent(-number)} better" if percent(number).startswith("-") else f"{percent(number)} worse"


def within(part: Any, cells: Any) -> str:
    """``80% of 15``, or ``n/a`` where no cell was judged."""
    return f"{share(part)} of {cells}" if cells else share(part)


def configurations(count: int) -> str:
    """``1 configuration``, ``12 configurations``."""
    return f"{count} configuration{'' if count == 1 else 's'}"


def share(part: Any) -> str:
    """A share in whole percent."""
    number = float(part)
    return "n/a" if not np.isfinite(number) else f"{100 * number:.0f}%"
