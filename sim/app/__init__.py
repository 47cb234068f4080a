"""The application: command line, Python API, validation and the run-directory tasks."""
