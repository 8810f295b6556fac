"""Exceptions raised by the toolkit, each naming the file or thing that is wrong."""

from __future__ import annotations


class ASDError(Exception):
    """Base class for every error the toolkit raises on purpose."""


class AudioError(ASDError):
    """A clip cannot be used: empty, truncated, not a WAV, NaN/inf samples, ..."""

    def __init__(self, path, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class LayoutError(ASDError):
    """A dataset folder does not follow a layout the toolkit reads."""


class ConfigError(ASDError):
    """A configuration value or file is invalid."""


class UnknownModelError(ASDError, KeyError):
    """A model or detector name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
