"""The defaults that the command line and the analysis share, in one place (importing it loads nothing heavy).

The largest relative regret a choice allows (1%), the tradeoff objective's weight of the
epochs saved, and the level of the prediction intervals.
"""

from __future__ import annotations

__all__ = ["DEFAULT_AUDIT_FRACTION", "DEFAULT_INTERVAL", "DEFAULT_PENALTY", "DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = 0.01
DEFAULT_PENALTY = 0.05
DEFAULT_INTERVAL = 0.8

#: Share of a calibrated search's configurations trained to the budget as audit trials.
DEFAULT_AUDIT_FRACTION = 0.1
