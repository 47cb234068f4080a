"""Health-economic evaluation of simulated patients (issue 5).

input data (`conf/economics/`, schema.py) -> per-patient costs, QALYs and life-years
(discount.py, lifetime.py, values.py) -> decision analysis (decision.py) -> uncertainty
(psa.py, voi.py, dsa.py) -> plots and report (plots.py, report.py, task.py).
"""
