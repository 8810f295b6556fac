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

    def __reduce__(self):  # pickled as made (raised on a Dask worker, re-raised by the client)
        return type(self), (self.path, self.problem)


class LayoutError(ASDError):
    """A dataset folder does not follow a layout the toolkit reads."""


class ConfigError(ASDError, ValueError):
    """A configuration value, option or file is invalid.

    Both an :class:`ASDError` (the CLI prints it in one line and exits 2) and a
    :class:`ValueError` (what Python code expects of a bad argument), as librosa's
    ``ParameterError``. Every setting is checked once, where the config reads it
    (:mod:`asd.config`, :func:`asd.config.check_knob` for options given outside a file).
    """


class UnknownModelError(ASDError, KeyError):
    """A model or detector name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WriteError(ASDError, OSError):
    """A file could not be written (disk full, read-only file system, ...); nothing was replaced.

    Also an :class:`OSError`, so code that already treats write failures as ``OSError`` (the
    feature cache, which is an optimisation) keeps doing so.
    """

    def __init__(self, path, problem: str):
        self.path = path
        self.problem = problem
        Exception.__init__(self, f"{path}: {problem}")

    def __reduce__(self):  # pickled as made, like AudioError
        return type(self), (self.path, self.problem)

    def __str__(self) -> str:  # OSError would format its own way
        return str(self.args[0]) if self.args else ""
