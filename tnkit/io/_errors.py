"""The one exception users see when stored data cannot be trusted."""

from __future__ import annotations

import os

__all__ = ["DataError", "one_line"]


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DataError(Exception):
    """A data file is missing, unreadable, corrupt, or not what the caller expected.

    The message is one line: the file, then the fault, e.g.
    ``"run.h5: checksum mismatch in dataset '/a' ..."``.
    """

    @classmethod
    def at(cls, path: str | os.PathLike[str], fault: str) -> DataError:
        """A DataError whose message is ``"<path>: <fault>"``.

        Parameters
        ----------
        path : str or path
            The file at fault.
        fault : str
            What is wrong with it.
        """
        return cls(f"{os.fspath(path)}: {fault}")

    @classmethod
    def caused_by(cls, path: str | os.PathLike[str], what: str, exc: BaseException) -> DataError:
        """``"<path>: <what> (<ExcType>: <first line of its message>)"``, for a library's own error.

        Parameters
        ----------
        path : str or path
            The file at fault.
        what : str
            What failed.
        exc : BaseException
            The library's error.
        """
        return cls.at(path, f"{what} ({type(exc).__name__}: {one_line(exc)})")
