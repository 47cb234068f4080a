"""Evidence: published targets, the virtual retrospective study and calibration."""
