"""Residual disability: brain damage mapped to a modified Rankin Scale (mRS) level.

Survivors' mRS is the number of the model's damage cut points their residual damage
reaches (`model.mrs_cutpoints`, one per level 1-5); outcomes, economics (utilities and
care costs by mRS) and trial eligibility all read this one mapping.
"""

from __future__ import annotations

import numpy as np


def mrs_level(damage: np.ndarray, cutpoints: list[float]) -> np.ndarray:
    """Modified Rankin level 0-5 of a brain-damage value, by the model's cut points."""
    return np.searchsorted(np.asarray(cutpoints, dtype=float), damage)
