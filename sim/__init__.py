"""pml-sim: discrete-event simulation of treatment strategies for PML.

The model reads left to right in the module names:
cohort -> dynamics -> therapies -> strategies -> engine -> outcomes (survival, summary, plots).
"""

__version__ = "0.1.0"
