"""The JCV-specific immune response as a function of immune status (shared formulas).

E* = f * C / (C + C50) * A: T-cell function f (0..1, exhaustion < 1) times a
saturating function of the CD4 count C, times brain access A (1 - alpha4-integrin
saturation under natalizumab, times steroid sparing).
"""

from __future__ import annotations

import numpy as np

from sim.config.schema import ModelConfig


def saturation_target(natalizumab: np.ndarray, m: ModelConfig) -> np.ndarray:
    """alpha4-integrin saturation in equilibrium with the natalizumab level."""
    x = (natalizumab / m.natalizumab_half_block) ** m.natalizumab_hill
    return x / (1.0 + x)


def effector_target(
    function: np.ndarray, cd4: np.ndarray, reach: np.ndarray, m: ModelConfig
) -> np.ndarray:
    """E* = function * C / (C + C50) * reach (brain access x steroid sparing)."""
    return function * cd4 / (cd4 + m.cd4_half_saturation) * reach
