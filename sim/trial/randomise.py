"""Randomisation: permuted blocks within strata, with an allocation ratio.

Each stratum (a condition, when stratified) has its own sequence of blocks; a block
of size B holds B a / (a + c) experimental and B c / (a + c) control slots in random
order (allocation a : c). So within every stratum, at any time, the arm counts are
never further than one block's imbalance from the target ratio (Rosenberger &
Lachin 2016, ch. 3; ICH E9 s.2.3.2).
"""

from __future__ import annotations

import numpy as np


def permuted_blocks(
    strata: np.ndarray, allocation: tuple[int, int], block_size: int, gen: np.random.Generator
) -> np.ndarray:
    """Arm of each patient in randomisation order: True = experimental."""
    strata = np.asarray(strata)
    a, c = allocation
    per = block_size // (a + c)
    template = np.array([True] * (a * per) + [False] * (c * per))
    arm = np.empty(len(strata), dtype=bool)
    for s in np.unique(strata):
        pos = np.flatnonzero(strata == s)
        blocks = -(-len(pos) // block_size)
        seq = gen.permuted(np.tile(template, (blocks, 1)), axis=1).ravel()
        arm[pos] = seq[: len(pos)]
    return arm


def block_ids(strata: np.ndarray, block_size: int) -> np.ndarray:
    """The permuted block of each patient (in randomisation order) that `permuted_blocks`
    filled: consecutive runs of block_size patients within a stratum, numbered across
    strata (the re-randomisation test shuffles arms within them)."""
    strata = np.asarray(strata)
    out = np.empty(len(strata), dtype=np.int64)
    first = 0
    for s in np.unique(strata):
        pos = np.flatnonzero(strata == s)
        ids = np.arange(len(pos)) // block_size
        out[pos] = first + ids
        first += int(ids[-1]) + 1
    return out
