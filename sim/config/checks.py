"""Range and name checks shared by every stage's config validation.

Each failure raises `ConfigError(key, allowed)`, which the CLI prints as one line,
e.g. `cohort.n: must be an integer >= 1, got -5`.
"""

from __future__ import annotations

import math

from sim.config.errors import ConfigError
from sim.config.schema import Dist

DISTS = ("normal", "lognormal", "beta")


def number(
    key: str, value: float, low: float = -math.inf, high: float = math.inf, *, open_low=False
):
    ok = (value > low if open_low else value >= low) and value <= high and not math.isnan(value)
    if not ok:
        if high == math.inf:
            allowed = f"> {low}" if open_low else f">= {low}"
        else:
            allowed = f"in ({low}, {high}]" if open_low else f"in [{low}, {high}]"
        raise ConfigError(key, f"must be {allowed}, got {value}")


def probability(key: str, value: float) -> None:
    number(key, value, 0.0, 1.0)


def one_of(key: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, f"unknown name {value!r}; allowed: {', '.join(sorted(allowed))}")


def distribution(key: str, d: Dist) -> None:
    one_of(f"{key}.kind", d.kind, DISTS)
    if d.low > d.high:
        raise ConfigError(f"{key}.low", f"must be <= {key}.high ({d.high}), got {d.low}")
    if d.kind == "normal":
        number(f"{key}.sd", d.sd, 0.0)
    elif d.kind == "lognormal":
        number(f"{key}.mean", d.mean, 0.0, open_low=True)
        number(f"{key}.sd", d.sd, 1.0)
    else:
        number(f"{key}.mean", d.mean, 0.0, 1.0, open_low=True)
        if d.mean >= 1.0:
            raise ConfigError(f"{key}.mean", f"beta mean must be in (0, 1), got {d.mean}")
        if not 0.0 < d.sd**2 < d.mean * (1.0 - d.mean):
            limit = math.sqrt(d.mean * (1.0 - d.mean))
            raise ConfigError(f"{key}.sd", f"beta sd must be in (0, {limit:.4g}), got {d.sd}")


def integer(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(key, f"must be an integer >= {low}, got {value}")
