"""Expected value of sample information (EVSI) of a two-arm trial and the expected net
benefit of sampling (ENBS), from the PSA draws.

The trial is the run's trial config (conf/trial/, e.g. pd1_vs_soc.yaml as sized by
`+experiment=trial_sizing`): its arms, its grid of total sample sizes (`trial.sizing.n`)
split by its allocation ratio, unless `economics.evsi` names others; it observes 1-year
survival (that trial's primary endpoint). EVSI by the
regression method of Strong, Oakley, Brennan & Breeze (Med Decis Making 2015;35:570-83):

1. for each PSA draw d (parameters theta_d, true 1-year survival p_e,d and p_c,d of the
   arms, net benefits NB_d,s of every strategy), simulate the trial's summary statistic
   X_d = (p_e,d - p_c,d) + z_d sqrt(p_e,d (1 - p_e,d) / n_e + p_c,d (1 - p_c,d) / n_c),
   the normal approximation to the difference of two observed proportions (z_d standard
   normal; the same z_d for every n: common random numbers across the grid);
2. regress each strategy's incremental NB on X_d (cubic polynomial, as the EVPPI of
   one parameter: `sim.economics.voi.conditional_means`), giving E[NB_s | X_d];
3. EVSI = E_X[max_s E(NB_s | X)] - max_s E[NB_s] (computed as a mean regret).

The draws' survival comes from `psa.n_patients` simulated patients (its first-order
noise is read as parameter uncertainty: EVSI is then slightly overstated, as EVPI).
Population EVSI = EVSI per patient x the patients the decision reaches: incident
patients per year (economics.budget_impact) from the time T the trial reports to the end
of the decision horizon H = `decision_years` (both counted from the decision to run the
trial), discounted continuously at the cost rate: incidence x (e^-dT - e^-dH) / d
(Eckermann & Willan, Med Decis Making 2008; Strong et al. 2015, discussion): patients
diagnosed while the trial runs are treated on current information. T = the time to
randomise n (the trial config's sites, referral rates and eligibility: `trial_years` of
the design, from sim.trial in the app), plus its minimum follow-up and
`reporting_months`; a trial that reports after H is worth nothing. With
`accrual_delay: false`, T = 0 (the population before issue 15's accrual item).
Trial cost = fixed_cost + cost_per_patient x n (all randomised);
ENBS = population EVSI - trial cost; the optimal n maximises ENBS over the grid.
With few draws the regression fits noise and EVSI is biased upward, as the EVPPI's
(`sim.economics.voi`): the same permutation noise floor is given. Tested on a conjugate
normal-normal case whose EVSI is known in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.config.economics import EconomicsConfig
from sim.config.schema import RunConfig
from sim.core.rng import generator
from sim.economics.budget import incident_patients
from sim.economics.discount import flow, force
from sim.economics.voi import NOISE_QUANTILE, _regret, conditional_means, net_benefit

EVSI_COLUMNS = [
    "experimental",
    "control",
    "wtp",
    "n",
    "n_experimental",
    "n_control",
    "evsi_per_patient",
    "evpi_per_patient",
    "population",
    "evsi_population",
    "trial_cost",
    "enbs",
    "optimal_n",
    "noise_mean",
    "noise_p95",
    "above_noise",
    "trial_years",
]


def evsi_from_statistic(x: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """EVSI per wtp from a summary statistic x (draws x k) and net benefits nb (wtp x
    draws x strategies): the regression estimator of Strong et al. 2015."""
    n_w, n, k = nb.shape
    if k < 2:
        return np.zeros(n_w)
    inc = nb[:, :, 1:] - nb[:, :, :1]
    y = inc.transpose(1, 0, 2).reshape(n, n_w * (k - 1))
    fitted = conditional_means(x, y).reshape(n, n_w, k - 1).transpose(1, 0, 2)
    full = np.concatenate([np.zeros((n_w, n, 1)), fitted], axis=2)
    return np.maximum(_regret(full), 0.0)


def trial_statistic(
    p_e: np.ndarray, p_c: np.ndarray, n_e: int, n_c: int, z: np.ndarray
) -> np.ndarray:
    """Observed difference in 1-year survival of a trial with n_e and n_c patients in the
    arms, by its normal approximation (z: one standard normal per draw)."""
    var = p_e * (1.0 - p_e) / n_e + p_c * (1.0 - p_c) / n_c
    return (p_e - p_c) + z * np.sqrt(var)


@dataclass
class TrialDesign:
    """The trial whose information is valued: arms and sample sizes (total, and per arm
    by the allocation ratio)."""

    experimental: str
    control: str
    sizes: list[tuple[int, int, int]]  # (total, experimental arm, control arm)
    # years from the decision to run the trial to its report, per size ([] = 0)
    years: list[float] = field(default_factory=list)


def trial_design(cfg: RunConfig) -> TrialDesign:
    """economics.evsi, falling back on the run's trial config: its arms, its sizing grid
    of total sample sizes, split by its allocation (rounded; the control arm takes the
    rest)."""
    ev, trial = cfg.economics.evsi, cfg.trial
    a_e, a_c = (float(a) for a in trial.randomisation.allocation[:2])
    sizes = []
    for n in ev.n or trial.sizing.n:
        n_e = int(round(int(n) * a_e / (a_e + a_c)))
        sizes.append((int(n), n_e, int(n) - n_e))
    return TrialDesign(ev.experimental or trial.experimental, ev.control or trial.control, sizes)


def decision_population(econ: EconomicsConfig, delay_years: float = 0.0) -> float:
    """Patients the decision reaches: incident patients per year from `delay_years` (the
    trial's report) to decision_years, discounted continuously at the cost discount rate
    to the decision to run the trial (0 if the trial reports after the horizon)."""
    per_year = incident_patients(econ)
    h = econ.evsi.decision_years
    start = min(max(delay_years, 0.0), h)
    return per_year * float(flow(start, h, force(econ.discount.costs)))


def evsi_table(
    psa: pd.DataFrame,
    strategies: list[str],
    thresholds: list[float],
    econ: EconomicsConfig,
    design: TrialDesign,
    seed: int,
    permutations: int = 0,
) -> pd.DataFrame:
    """psa: draws x strategies with cost, qaly and survival (share alive at the horizon).
    One row per threshold and sample size of the design. With `permutations` > 0,
    the noise floor: the EVSI of the statistic permuted across draws (it then carries no
    information, so its EVSI is the regression's small-sample bias), the same for every
    n (`noise_mean`, `noise_p95`; `above_noise`: EVSI above that 95th percentile)."""
    ev = econ.evsi
    wtp = np.asarray(thresholds, dtype=float)
    nb = net_benefit(psa, strategies, wtp)
    surv = psa.pivot(index="draw", columns="strategy", values="survival")
    p_e = surv[design.experimental].to_numpy(dtype=float)
    p_c = surv[design.control].to_numpy(dtype=float)
    z = generator(seed, "evsi/trial_statistic").standard_normal(len(p_e))
    evpi = _regret(nb)
    years = list(design.years) if ev.accrual_delay else []
    years = years or [0.0] * len(design.sizes)
    rows = []
    for (n, n_e, n_c), t in zip(design.sizes, years, strict=True):
        x = trial_statistic(p_e, p_c, n_e, n_c, z)[:, None]
        value = evsi_from_statistic(x, nb)
        cost = ev.fixed_cost + ev.cost_per_patient * n
        pop = decision_population(econ, t)
        for i, w in enumerate(wtp):
            rows.append(
                {
                    "experimental": design.experimental,
                    "control": design.control,
                    "wtp": float(w),
                    "n": n,
                    "n_experimental": n_e,
                    "n_control": n_c,
                    "evsi_per_patient": float(value[i]),
                    "evpi_per_patient": float(evpi[i]),
                    "population": pop,
                    "evsi_population": float(value[i]) * pop,
                    "trial_cost": cost,
                    "enbs": float(value[i]) * pop - cost,
                    "trial_years": float(t),
                }
            )
    out = pd.DataFrame(rows)
    out["noise_mean"] = out["noise_p95"] = np.nan
    if permutations > 0:
        _, n_e, n_c = max(design.sizes)
        x = trial_statistic(p_e, p_c, n_e, n_c, z)[:, None]
        gen = generator(seed, "evsi/permutation")
        floor = np.stack(
            [evsi_from_statistic(x[gen.permutation(len(x))], nb) for _ in range(permutations)]
        )
        for i, w in enumerate(wtp):
            at = out["wtp"] == float(w)
            out.loc[at, "noise_mean"] = float(floor[:, i].mean())
            out.loc[at, "noise_p95"] = float(np.quantile(floor[:, i], NOISE_QUANTILE))
    out["above_noise"] = out["evsi_per_patient"] > out["noise_p95"]
    best = out.loc[out.groupby("wtp")["enbs"].idxmax(), ["wtp", "n"]].set_index("wtp")["n"]
    out["optimal_n"] = [n == best[w] for w, n in zip(out["wtp"], out["n"], strict=True)]
    return out.sort_values(["wtp", "n"], kind="stable").reset_index(drop=True)[EVSI_COLUMNS]
