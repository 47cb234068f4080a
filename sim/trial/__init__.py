"""Virtual clinical trials of PML therapies: accrual, randomisation, analyses,
group-sequential boundaries and sample-size sizing (issue 6; docs/trial.md).

Outcomes come from the pml-sim model: a large pool of virtual patients is simulated
once under the control and the experimental strategy (common random numbers), and
each virtual trial draws its patients from that pool. Everything else (sites, arrivals,
eligibility, randomisation, dropout, looks, tests) happens in the trial's own calendar.
Schema: sim/config/trial.py; run directory: sim/app/tasks/trial.py.
"""
