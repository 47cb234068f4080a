"""A toy PML model: the yardstick pml-sim's speed is measured against (issue 13).

About 30 lines of vectorised numpy, daily steps, no events log, no therapies: blood
CD4 recovers exponentially to a per-patient set point, the JCV-specific effector
response follows CD4, log10 CSF JCV grows and is killed by the effectors, brain damage
grows with viral activity, and death and IRIS hazards rise exponentially with damage
and with effectors meeting antigen. Each patient draws their own baseline. Whatever
pml-sim computes beyond this is what its extra time buys; the toy is timed in the same
process as each measurement, so the ratio says more than either number on a shared
machine.

    python benchmarks/toy.py [n] [days]      # prints patient-years/s, survival, IRIS
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace

import numpy as np

LN10 = float(np.log(10.0))


@dataclass(frozen=True)
class ToyParams:
    recovery_per_day: float = 1 / 60  # CD4 approach to the set point (median)
    effector_days: float = 14.0  # effector response lag behind CD4
    growth_log10_per_day: float = 0.03  # JCV growth without control
    kill_log10_per_day: float = 0.08  # JCV killing at effector 1
    damage_rate_per_day: float = 0.01  # damage growth at 1e5 copies/mL
    death_per_day: float = 0.004  # death hazard at damage 0.5
    death_slope: float = 6.0  # e-fold per unit damage
    iris_per_day: float = 0.002  # IRIS hazard at effector 1 and 1e4 copies/mL
    iris_slope: float = 3.0  # e-fold per unit effector above 1


def baseline(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Per-patient CD4, CD4 set point, recovery rate, log10 JCV and damage at diagnosis."""
    cd4 = rng.lognormal(np.log(80.0), 0.8, n)
    set_point = rng.lognormal(np.log(450.0), 0.4, n)
    recovery = rng.lognormal(0.0, 0.4, n)  # multiplies ToyParams.recovery_per_day
    jcv = rng.normal(4.0, 1.0, n).clip(0.0, 8.0)
    damage = rng.beta(2.0, 6.0, n)
    return cd4, set_point, recovery, jcv, damage


def simulate(n: int, days: int = 365, seed: int = 0, p: ToyParams = ToyParams()) -> dict:
    """Alive and ever-IRIS fractions at `days` for n patients, daily steps (a daily
    hazard h is the day's probability, capped at 1)."""
    rng = np.random.default_rng(seed)
    cd4, set_point, recovery, jcv, damage = baseline(n, rng)
    cd4_relax = -np.expm1(-p.recovery_per_day * recovery)
    eff_relax = -np.expm1(-1.0 / p.effector_days)
    effector = cd4 / 500.0
    alive, iris = np.ones(n, bool), np.zeros(n, bool)
    for _ in range(days):
        cd4 += (set_point - cd4) * cd4_relax
        effector += (cd4 / 500.0 - effector) * eff_relax
        jcv = np.clip(jcv + p.growth_log10_per_day - p.kill_log10_per_day * effector, 0.0, 9.0)
        damage += p.damage_rate_per_day * np.exp(LN10 * (jcv - 5.0)) * (1.0 - damage)
        np.minimum(damage, 1.0, out=damage)
        h_death = p.death_per_day * np.exp(p.death_slope * (damage - 0.5))
        h_iris = p.iris_per_day * np.exp(p.iris_slope * (effector - 1.0)) * (jcv / 4.0)
        u = rng.random((2, n))
        alive &= u[0] >= h_death
        iris |= alive & (u[1] < h_iris)
    return {"survival": float(alive.mean()), "iris": float(iris.mean()), "n": n, "days": days}


def constant_hazard_survival(n: int, days: int = 365, seed: int = 0) -> tuple[float, float]:
    """(simulated, exact) survival when nothing changes damage (no growth, no killing,
    no damage growth): each patient's daily death probability h_i is then constant, so
    the expected survival is the mean of (1 - h_i) ** days over the same baseline draws."""
    frozen = replace(ToyParams(), growth_log10_per_day=0.0, kill_log10_per_day=0.0)
    frozen = replace(frozen, damage_rate_per_day=0.0)
    damage = baseline(n, np.random.default_rng(seed))[4]
    h = np.minimum(frozen.death_per_day * np.exp(frozen.death_slope * (damage - 0.5)), 1.0)
    return simulate(n, days, seed, frozen)["survival"], float(np.mean((1.0 - h) ** days))


def patient_years_per_s(n: int, days: int = 365, seed: int = 0) -> float:
    """The toy's speed: n x days / 365 patient-years over its wall time, one core."""
    t = time.perf_counter()
    simulate(n, days, seed)
    return n * days / 365.0 / (time.perf_counter() - t)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 365
    t0 = time.perf_counter()
    r = simulate(n, days)
    dt = time.perf_counter() - t0
    print(
        f"toy: {n:,} patients x {days} days in {dt:.2f} s = {n * days / 365 / dt:,.0f} "
        f"patient-years/s; survival {r['survival']:.3f}, IRIS {r['iris']:.3f}"
    )
