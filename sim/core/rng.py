"""Per-patient random numbers named by what they are for, independent of chunking.

Every random number a patient ever uses is a pure function of
(run seed, stream name, patient index, slot): a counter-based generator.

* The **stream name** says what the number is for, as a path:
  ``"baseline/cd4"``, ``"threshold/death"``, ``"lab_noise/cd4/day 14.0"``,
  ``"side_effect/rhil7/injection_site_reaction"``. The name and the run key are
  hashed together (BLAKE2b, 128 bits; computed once per name and cached) into the
  stream's own key, so each name is an independent stream.
* The **slot** is a small natural index within the stream, e.g. the course number of a
  therapy (0 for the first course); most streams use only slot 0.

The counter (patient index, slot) is hashed with the SplitMix64 finaliser
(Steele et al., OOPSLA 2014; passes BigCrush), keyed by the stream's key in two rounds
(added before the first, xor-ed before the second), so two streams never run through
the same sequence shifted. The run seed is expanded to a 64-bit key with
`numpy.random.SeedSequence`.

The reproducibility contract:

* Nothing depends on chunk boundaries, worker identity or the strategy being run, so
  the same virtual patient sees the same numbers (common random numbers) whatever the
  chunking, the engine or the strategy.
* Nothing depends on a position in a list: adding, removing, renaming or reordering a
  therapy, a side effect, an assay, a visit or a baseline variable changes only the
  numbers of the thing added, removed or renamed. A stream name must therefore be
  unique to one purpose (therapy and side-effect names are unique by validation).
* Changing a stream name, the hash or the mixing changes numbers; that is a deliberate,
  reviewed change of the golden baseline (`experiments/golden.py --update`).

Random objects that are not per patient (one virtual trial, the PSA draws) use
`generator(seed, name, *keys)`: a numpy Generator that is a pure function of its
arguments, one per name, so adding a draw of one purpose never shifts another's.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from scipy.special import ndtri

from sim.core.jit import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: SplitMix64's increment
_M1 = np.uint64(0xBF58476D1CE4E5B9)  # SplitMix64 finaliser multipliers (Steele et al.)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
SLOT_BITS = 20  # slots 0 .. 2**20 - 1 (~1M) per stream and patient; patients < 2**44
MAX_SLOT = (1 << SLOT_BITS) - 1
_SLOT_BITS = np.uint64(SLOT_BITS)
_INV_2_53 = 1.0 / float(1 << 53)  # 53 random bits -> a double in (0, 1)
_WORD_BYTES = 8  # one 64-bit word
_MASK64 = (1 << 64) - 1


@njit(cache=True)
def _mix(z: np.uint64) -> np.uint64:
    """The SplitMix64 finaliser of one 64-bit word (arithmetic modulo 2**64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _uniforms(k1: np.uint64, k2: np.uint64, patient: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """The stream's U(0, 1) number for each (patient, slot): one compiled pass, the
    counter hashed in two keyed rounds, its top 53 bits centred in (0, 1)."""
    out = np.empty(patient.shape[0])
    for i in range(patient.shape[0]):
        counter = (patient[i] << _SLOT_BITS) ^ slot[i]
        z = _mix(k1 + counter * _GOLDEN)
        z = _mix((z ^ k2) + _GOLDEN)
        out[i] = (float(z >> _S11) + 0.5) * _INV_2_53
    return out


def run_key(seed: int) -> np.uint64:
    """64-bit key of a run, from `SeedSequence(seed)`."""
    return np.uint64(np.random.SeedSequence(int(seed)).generate_state(1, dtype=np.uint64)[0])


@lru_cache(maxsize=4096)
def name_words(name: str) -> tuple[int, int]:
    """Two 64-bit words of the BLAKE2b digest of a stream name (stable across Python
    versions and processes, unlike `hash`)."""
    if not name:
        raise ValueError("a random stream needs a non-empty name")
    d = hashlib.blake2b(name.encode("utf-8"), digest_size=2 * _WORD_BYTES).digest()
    return (
        int.from_bytes(d[:_WORD_BYTES], "little"),
        int.from_bytes(d[_WORD_BYTES:], "little"),
    )


@lru_cache(maxsize=4096)
def _stream_key(key: int, name: str) -> tuple[np.uint64, np.uint64]:
    """The two 64-bit words keying stream `name` of the run with key `key`."""
    d = hashlib.blake2b(
        name.encode("utf-8"),
        digest_size=2 * _WORD_BYTES,
        key=(int(key) & _MASK64).to_bytes(_WORD_BYTES, "little"),
        person=b"pml-sim/stream",
    ).digest()
    return (
        np.uint64(int.from_bytes(d[:_WORD_BYTES], "little")),
        np.uint64(int.from_bytes(d[_WORD_BYTES:], "little")),
    )


def uniform(
    key: np.uint64, name: str, patient: np.ndarray, slot: int | np.ndarray = 0
) -> np.ndarray:
    """U(0, 1) numbers (never exactly 0 or 1) of stream `name` for each patient index
    and slot (0 <= slot <= MAX_SLOT)."""
    if not name:
        raise ValueError("a random stream needs a non-empty name")
    if (
        type(slot) is int
        and 0 <= slot <= MAX_SLOT
        and isinstance(patient, np.ndarray)
        and patient.ndim == 1
        and patient.dtype.kind in "iu"
    ):
        # the common call (one slot for a chunk's patient indices): no broadcasting
        k1, k2 = _stream_key(int(key), name)
        p = np.ascontiguousarray(patient, dtype=np.uint64)
        return _uniforms(k1, k2, p, np.full(p.shape[0], slot, dtype=np.uint64))
    if np.any(np.asarray(slot) < 0) or np.any(np.asarray(slot) > MAX_SLOT):
        raise ValueError(f"random stream {name!r}: slot must be in 0..{MAX_SLOT}, got {slot}")
    k1, k2 = _stream_key(int(key), name)
    p, s = np.broadcast_arrays(
        np.asarray(patient, dtype=np.uint64), np.asarray(slot, dtype=np.uint64)
    )
    flat = _uniforms(k1, k2, np.ascontiguousarray(p).ravel(), np.ascontiguousarray(s).ravel())
    return flat.reshape(p.shape) if p.ndim else flat[0]  # a scalar for scalar input, as numpy


def normal(
    key: np.uint64, name: str, patient: np.ndarray, slot: int | np.ndarray = 0
) -> np.ndarray:
    """Standard normal numbers by inversion (keeps the one-number-per-slot contract)."""
    return ndtri(uniform(key, name, patient, slot))


def exponential(
    key: np.uint64, name: str, patient: np.ndarray, slot: int | np.ndarray = 0
) -> np.ndarray:
    """Exp(1) numbers: thresholds of cumulative hazards."""
    return -np.log(uniform(key, name, patient, slot))


def generator(seed: int, name: str, *keys: int) -> np.random.Generator:
    """A numpy Generator that is a pure function of (seed, name, keys): for random
    objects that are not per patient, e.g. one virtual trial (keys: its indices)."""
    return np.random.default_rng(seed_sequence(seed, name, *keys))


def seed_sequence(seed: int, name: str, *keys: int) -> np.random.SeedSequence:
    """The SeedSequence of (seed, name, keys); `generator` draws from it."""
    return np.random.SeedSequence([int(seed), *name_words(name), *map(int, keys)])


SEED_BITS = 31  # derived seeds are non-negative 32-bit integers (RunConfig.seed)


def derived_seed(seed: int, name: str, draw: int) -> int:
    """A run seed for draw `draw` of an outer loop (PSA, uncertainty, assurance), named so
    every loop's patients are independent of every other's."""
    ss = seed_sequence(seed, name, draw)
    return int(ss.generate_state(1, dtype=np.uint32)[0] >> (32 - SEED_BITS))
