"""Every error nasforge raises on purpose, under one base class.

The command line catches :class:`NasforgeError` and prints its message as one
``error:`` line with exit code 2; anything else is a bug and keeps its
traceback. Each specific error also derives from the builtin a caller would
expect (``ValueError`` for bad values, ``KeyError`` for unknown names,
``FileNotFoundError`` for missing data), so ``except ValueError`` keeps working.
Messages name the bad value and what would be accepted.
"""

from __future__ import annotations


class NasforgeError(Exception):
    """Base class of the errors nasforge raises for bad input, missing data or storage problems."""


class ConfigError(NasforgeError, ValueError):
    """An option, budget, objective or constraint with a bad value."""


class UnknownNameError(NasforgeError, KeyError, ValueError):
    """An unknown plug-in name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidArchitectureError(NasforgeError, ValueError):
    """An architecture (or its string/JSON form) is not in the space."""


class DataError(NasforgeError, ValueError):
    """Data that cannot become a task: bad shapes, labels, values, files or split settings."""


class DataNotFoundError(NasforgeError, FileNotFoundError):
    """A benchmark's data file is missing; the message says where to put it."""


class StudyExistsError(NasforgeError, ValueError):
    """A study with this name already exists in the storage."""


class StudyNotFoundError(NasforgeError, KeyError):
    """No study with this name in the storage."""

    def __str__(self) -> str:
        return str(self.args[0])


class StudyBusyError(NasforgeError, RuntimeError):
    """Another live process is running the study; the message names it."""


class StorageError(NasforgeError, RuntimeError):
    """The storage cannot be opened, read or written."""


class ExportError(NasforgeError, RuntimeError):
    """A trained model could not be exported, or the export disagrees with PyTorch."""


class MissingExtraError(NasforgeError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


__all__ = ["NasforgeError", "ConfigError", "UnknownNameError", "InvalidArchitectureError", "DataError",
           "DataNotFoundError", "StudyExistsError", "StudyNotFoundError", "StudyBusyError", "StorageError", "ExportError",
           "MissingExtraError"]
