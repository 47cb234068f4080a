"""Shared utilities below the model: random-number streams and atomic file output."""
