"""pml-sim: discrete-event simulation of treatment strategies for PML.

The packages are the stages, bottom to top (imports only run downwards):
config, core -> model -> engine -> outcomes -> evidence | economics | trial -> app.
The Python entry point is `sim.api`; the command line is `sim.app.cli`.
"""

__version__ = "0.1.0"
