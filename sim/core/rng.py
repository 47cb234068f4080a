"""Per-patient random streams that do not depend on how the cohort is split.

Every random number a patient ever uses is a pure function of
(run seed, stream, patient index, slot): a counter-based generator. The run seed is
expanded to a 64-bit key with `numpy.random.SeedSequence`; the counter is hashed
with the SplitMix64 finaliser (Steele et al., OOPSLA 2014), whose output passes
BigCrush. Because nothing depends on chunk boundaries, worker identity or the
strategy being run, the same virtual patient sees the same numbers
(common random numbers) whatever the chunking, the engine or the strategy.

Streams separate the purposes (baseline draws, event thresholds, lab noise ...) so
that adding a draw to one purpose never shifts the numbers of another.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
SLOT_BITS = 20  # slots 0 .. 2**20 - 1 (~1M) per stream and patient
_SLOT_BITS = np.uint64(SLOT_BITS)
_INV_2_53 = 1.0 / float(1 << 53)


class Stream(IntEnum):
    """Independent purposes of randomness; values are part of the reproducibility contract."""

    CONDITION = 1
    BASELINE = 2
    RANDOM_EFFECTS = 3
    EVENT_THRESHOLDS = 4
    SIDE_EFFECTS = 5
    LAB_NOISE = 6
    STUDY = 7
    TRIAL = 8  # virtual trials (sim/trial/): accrual, randomisation, dropout, pool draws
    PSA = 9  # parameter draws of the probabilistic sensitivity analysis


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def run_key(seed: int) -> np.uint64:
    """64-bit key of a run, from `SeedSequence(seed)`."""
    return np.uint64(np.random.SeedSequence(int(seed)).generate_state(1, dtype=np.uint64)[0])


def uniform(
    key: np.uint64, stream: Stream, patient: np.ndarray, slot: int | np.ndarray
) -> np.ndarray:
    """U(0, 1) numbers (never exactly 0 or 1) for each patient index and slot."""
    p = np.asarray(patient, dtype=np.uint64)
    s = np.asarray(slot, dtype=np.uint64)
    with np.errstate(over="ignore"):
        counter = (p << _SLOT_BITS) ^ s
        z = _mix(key ^ (np.uint64(int(stream)) * _GOLDEN)) + counter * _GOLDEN
        z = _mix(_mix(z) + _GOLDEN)
    return ((z >> _S11).astype(np.float64) + 0.5) * _INV_2_53


def normal(
    key: np.uint64, stream: Stream, patient: np.ndarray, slot: int | np.ndarray
) -> np.ndarray:
    """Standard normal numbers by inversion (keeps the one-number-per-slot contract)."""
    return ndtri(uniform(key, stream, patient, slot))


def exponential(
    key: np.uint64, stream: Stream, patient: np.ndarray, slot: int | np.ndarray
) -> np.ndarray:
    """Exp(1) numbers: thresholds of cumulative hazards."""
    return -np.log(uniform(key, stream, patient, slot))


def generator(seed: int, stream: Stream, *keys: int) -> np.random.Generator:
    """A numpy Generator that is a pure function of (seed, stream, keys): for random
    objects that are not per patient, e.g. one virtual trial (keys: its indices)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), *map(int, keys)]))
