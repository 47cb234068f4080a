"""The shipped configs. Installed, this folder is the package `sim.conf` (pyproject.toml
maps it), so a wheel carries them; `sim.config.load.config_dir()` finds it."""
