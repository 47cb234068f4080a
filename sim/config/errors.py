"""The one exception a user sees for bad input."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is out of its allowed range; `key` is the dotted config key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
