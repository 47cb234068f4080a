"""The model: virtual patients, their immunity, JC virus and brain damage, therapies,
strategies and monitoring. Pure functions of a config and random streams; no I/O."""
