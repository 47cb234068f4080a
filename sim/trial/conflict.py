"""The borrowing table of a sizing run (trial.borrowing; sim.trial.borrowing): for
each grid n (allocation as randomised) and each prior - no borrowing, the power prior,
the robust MAP prior - the exact type I error and power of the Bayesian decision at
every true control rate of `control_rates` and at the model's (the pool's) control
rate. Power is at the model's effect on the endpoint (pool p_e - p_c) added to the
true control rate. Outcomes are binomial at the planned sizes (no dropout or accrual
cap: the exact counterpart of a fixed design's analytic power).
"""

from __future__ import annotations

import math

import pandas as pd

from sim.trial.borrowing import PRIORS, control_prior, decision_table, operating_characteristics
from sim.trial.design import Spec, superpopulation

BORROWING_COLUMNS = [
    "n",
    "n_e",
    "n_c",
    "prior",
    "true_control",
    "model_control",  # True: the pool's control rate (the model as the truth)
    "type1_error",
    "power",
    "posterior_mean_bias",  # E(posterior mean of p_c) - true p_c, under H0
]


def conflict_table(spec: Spec) -> pd.DataFrame:
    t = spec.trial
    b = t.borrowing
    sp = superpopulation(spec, b.endpoint)
    effect = sp["p_e"] - sp["p_c"]
    a, c = t.randomisation.allocation
    vague = (b.vague_a, b.vague_b)
    rates = [(r, False) for r in b.control_rates] + [(sp["p_c"], True)]
    rows = []
    for n in t.sizing.n:
        n_e = round(n * a / (a + c))
        n_c = n - n_e
        for kind in PRIORS:
            prior = control_prior(
                kind, b.historical_x, b.historical_n, vague, b.power_delta, b.map_weight
            )
            table = decision_table(n_e, n_c, prior, vague, b.threshold)
            for p_c, model in rates:
                h0 = operating_characteristics(n_e, n_c, prior, vague, b.threshold, p_c, p_c, table)
                p_e = min(p_c + effect, 1.0)
                h1 = operating_characteristics(n_e, n_c, prior, vague, b.threshold, p_e, p_c, table)
                rows.append(
                    {
                        "n": n,
                        "n_e": n_e,
                        "n_c": n_c,
                        "prior": kind,
                        "true_control": p_c,
                        "model_control": model,
                        "type1_error": h0.reject,
                        "power": h1.reject,
                        "posterior_mean_bias": h0.posterior_mean_bias,
                    }
                )
    return pd.DataFrame(rows, columns=BORROWING_COLUMNS)


def conflict_markdown(table: pd.DataFrame, spec: Spec) -> str:
    t = spec.trial
    b = t.borrowing
    hist = b.historical_x / b.historical_n
    lines = [
        "",
        f"**Bayesian borrowing of a historical control** ({b.endpoint}: "
        f"{b.historical_x}/{b.historical_n} = {hist:.3f}; reject if P(p_e > p_c | data) >= "
        f"{b.threshold:g}; power prior delta {b.power_delta:g}, robust MAP weight "
        f"{b.map_weight:g}; exact, binomial outcomes at the planned sizes). Type I error "
        "(power at the model's effect) by the true control rate; * = the model's control rate:",
        "",
    ]
    rates = table.drop_duplicates("true_control")
    pairs = zip(rates["true_control"], rates["model_control"], strict=True)
    head = [f"{r:.3f}{'*' if m else ''}" for r, m in pairs]
    lines += [
        "| n | prior | " + " | ".join(head) + " |",
        "|---|---|" + "---|" * len(head),
    ]
    for (n, kind), g in table.groupby(["n", "prior"], sort=False):
        cells = [
            f"{r['type1_error']:.3f} ({r['power']:.2f})" if not math.isnan(r["power"]) else ""
            for _, r in g.iterrows()
        ]
        lines.append(f"| {n} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
