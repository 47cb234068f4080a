"""Health-economic evaluation of simulated patients (issue 5).

input data (`conf/economics/`, schema in sim/config/economics.py) -> per-patient costs,
QALYs and life-years (discount.py, lifetime.py, values.py) -> decision analysis
(decision.py) -> uncertainty (psa.py, voi.py, dsa.py) -> plots and report (plots.py,
report.py). The run directory is written by sim/app/tasks/economics.py.
"""
