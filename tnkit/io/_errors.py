"""The one exception users see when stored data cannot be trusted."""

from __future__ import annotations

import os

__all__ = ["DataError"]


class DataError(Exception):
    """A data file is missing, unreadable, corrupt, or not what the caller expected.

    The message is one line: the file, then the fault, e.g.
    ``"run.h5: checksum mismatch in dataset '/a' ..."``.
    """

    @classmethod
    def at(cls, path: str | os.PathLike[str], fault: str) -> DataError:
        """A DataError whose message is ``"<path>: <fault>"``."""
        return cls(f"{os.fspath(path)}: {fault}")
