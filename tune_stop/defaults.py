"""The defaults that the command line and the analysis share, in one place (importing it loads nothing heavy).

The largest relative regret a choice allows (1%), or for curves that carry their estimator's own
SD (a GAN's ``fid_sd``) the tolerance in those SDs (2), the tradeoff objective's weight of the
epochs saved, and the level of the prediction intervals.
"""

from __future__ import annotations

__all__ = ["DEFAULT_AUDIT_FRACTION", "DEFAULT_INTERVAL", "DEFAULT_PENALTY", "DEFAULT_TOLERANCE", "DEFAULT_TOLERANCE_SD"]

DEFAULT_TOLERANCE = 0.01
#: Where no tolerance is given and the curves carry the estimator's SD: FID moves by several percent from
#: one epoch to the next by chance, so a 1% share asks for differences it cannot resolve; 2 of its SDs
#: is the smallest difference it can.
DEFAULT_TOLERANCE_SD = 2.0
DEFAULT_PENALTY = 0.05
DEFAULT_INTERVAL = 0.8

#: Share of a calibrated search's configurations trained to the budget as audit trials.
DEFAULT_AUDIT_FRACTION = 0.1
