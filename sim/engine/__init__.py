"""The engine: runs the model over a cohort (batch or per-patient reference engine),
chunk by chunk on an executor, and returns the patients, events and labs tables."""
