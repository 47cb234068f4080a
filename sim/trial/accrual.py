"""Accrual: sites opening over time, Poisson arrivals per site, screening.

Site k of S opens at k / (S - 1) x ramp_up_months (all at once when S = 1). From its
opening, a site sees referred PML patients as a Poisson process whose rate is
piecewise constant in the months since opening (`rate_per_site_month`, changing at
`rate_change_months`: e.g. a slow start while the site learns to screen). A referred
patient is randomised if eligible (condition, baseline CD4, baseline disability)
and not a screen failure or refusal.

Two implementations of the same process:

* `randomised_times` (vectorised, used by the sizing runs): the sum of the sites'
  processes is a Poisson process with rate Lambda(t) = sum_k r(t - o_k), and
  thinning it by the probability p of being randomised leaves a Poisson process
  with rate p Lambda(t). Its arrival times are M^-1(E_1 + ... + E_i), with E
  standard exponentials and M(t) = p int_0^t Lambda (time-change theorem), and M is
  piecewise linear, so inversion is exact.
* `simpy_accrual` (the discrete-event reference): one SimPy process per site draws
  exponential gaps at the current rate (restarting at each rate change, which is
  exact by memorylessness), screens each referred patient drawn from the referral
  pool, and stops the trial at n randomised or at the accrual cap.

Tests check that both give the same distribution of accrual times and screening
counts. Times are in days; config rates are per month (DAYS_PER_MONTH).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from sim.config.trial import AccrualConfig

DAYS_PER_MONTH = 365.25 / 12.0


def site_openings(acc: AccrualConfig) -> np.ndarray:
    """Opening day of each site."""
    if acc.sites == 1:
        return np.zeros(1)
    return np.arange(acc.sites) / (acc.sites - 1) * acc.ramp_up_months * DAYS_PER_MONTH


def site_rate(acc: AccrualConfig, scale: float, since_open_days: np.ndarray) -> np.ndarray:
    """Referral rate per site and day, `since_open_days` after it opened (0 before)."""
    x = np.asarray(since_open_days, dtype=float)
    change = np.asarray(acc.rate_change_months, dtype=float) * DAYS_PER_MONTH
    rates = np.asarray(acc.rate_per_site_month, dtype=float) * scale / DAYS_PER_MONTH
    r = rates[np.searchsorted(change, x, side="right")]
    return np.where(x >= 0.0, r, 0.0)


@dataclass
class Intensity:
    """Cumulative intensity M(t) of randomised patients: piecewise linear in t."""

    knots: np.ndarray  # days
    cumulative: np.ndarray  # M at the knots
    final_rate: float  # per day, after the last knot

    def at(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        inside = np.interp(t, self.knots, self.cumulative)
        beyond = self.cumulative[-1] + (t - self.knots[-1]) * self.final_rate
        return np.where(t <= self.knots[-1], inside, beyond)

    def inverse(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        # flat stretches (rate 0) are skipped: interp picks the first knot of equal M
        keep = np.concatenate([[True], np.diff(self.cumulative) > 0.0])
        inside = np.interp(m, self.cumulative[keep], self.knots[keep])
        beyond = self.knots[-1] + (m - self.cumulative[-1]) / self.final_rate
        return np.where(m <= self.cumulative[-1], inside, beyond)


def intensity(acc: AccrualConfig, scale: float, p_randomised: float) -> Intensity:
    """M(t) = p_randomised x expected referrals by day t over all sites."""
    opens = site_openings(acc)
    change = np.asarray(acc.rate_change_months, dtype=float) * DAYS_PER_MONTH
    knots = np.unique(np.concatenate([[0.0], opens, (opens[:, None] + change[None, :]).ravel()]))
    mids = (knots[:-1] + knots[1:]) / 2.0
    total = site_rate(acc, scale, mids[:, None] - opens[None, :]).sum(axis=1) * p_randomised
    cum = np.concatenate([[0.0], np.cumsum(total * np.diff(knots))])
    last = site_rate(acc, scale, knots[-1] - opens).sum() * p_randomised
    return Intensity(knots, cum, float(last))


def expected_accrual_days(acc: AccrualConfig, p_randomised: float, n: int) -> float:
    """Days until the expected number randomised reaches n, M^-1(n) (exact for a
    constant rate: n / rate), capped at the accrual cap (max_accrual_months)."""
    m = intensity(acc, 1.0, p_randomised)
    if m.final_rate <= 0.0 and n > m.cumulative[-1]:
        return acc.max_accrual_months * DAYS_PER_MONTH
    return float(min(m.inverse(np.array([float(n)]))[0], acc.max_accrual_months * DAYS_PER_MONTH))


def randomised_times(gen: np.random.Generator, m: Intensity, n: int, max_days: float) -> np.ndarray:
    """Days at which patients 1..n are randomised, cut at the accrual cap."""
    t = m.inverse(np.cumsum(gen.exponential(1.0, n)))
    return t[t <= max_days]


@dataclass
class SimpyAccrual:
    times: np.ndarray  # randomisation days
    pool_index: np.ndarray  # referral-pool patient randomised
    screened: int  # referred patients screened (eligible or not)


def simpy_accrual(
    acc: AccrualConfig,
    scale: float,
    eligible: np.ndarray,
    screen_fail: float,
    n: int,
    gen: np.random.Generator,
) -> SimpyAccrual:
    """The discrete-event reference: one process per site, screening each referral."""
    env = simpy.Environment()
    done = env.event()
    max_days = acc.max_accrual_months * DAYS_PER_MONTH
    change = np.asarray(acc.rate_change_months, dtype=float) * DAYS_PER_MONTH
    times: list[float] = []
    picked: list[int] = []
    screened = [0]

    def site(open_day: float):
        yield env.timeout(open_day)
        while True:
            since = env.now - open_day
            rate = float(site_rate(acc, scale, np.array([since]))[0])
            later = change[change > since]
            piece_end = later[0] if len(later) else np.inf
            gap = gen.exponential(1.0 / rate) if rate > 0.0 else np.inf
            if since + gap >= piece_end:  # the rate changes first: restart there
                yield env.timeout(piece_end - since)
                continue
            yield env.timeout(gap)
            screened[0] += 1
            j = int(gen.integers(len(eligible)))
            if eligible[j] and gen.random() >= screen_fail and not done.triggered:
                times.append(env.now)
                picked.append(j)
                if len(times) == n:
                    done.succeed()

    for o in site_openings(acc):
        env.process(site(float(o)))
    env.run(until=env.any_of([done, env.timeout(max_days)]))
    return SimpyAccrual(np.asarray(times), np.asarray(picked, dtype=np.int64), screened[0])
