"""Bringing files of an older tnkit format up to the current one.

Format 1 (tnkit before attribute digests) checks every dataset's sha256 but not the
attributes, so a damaged creation time, generator record or scalar leaf loads silently.
:func:`upgrade` verifies a format-1 file completely (every dataset checksum), then
republishes it with the digests of format 2 — arrays and attributes unchanged, atomically,
under the file's lock. A file already in the current format is left alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from tnkit.io._atomic import atomic_write
from tnkit.io._hdf5 import _FORMAT, FORMAT, PathLike, seal_groups
from tnkit.io._reading import load, provenance

__all__ = ["upgrade"]


def upgrade(path: PathLike) -> bool:
    """Rewrite ``path`` in the current file format; True when it changed.

    Raises
    ------
    DataError
        If the file fails any check :func:`tnkit.io.load` makes (nothing is rewritten then).

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> from tnkit.io import save
    >>> path = os.path.join(tempfile.mkdtemp(), "x.h5")
    >>> _ = save(path, np.ones(2))
    >>> upgrade(path)  # already current
    False
    """
    path = Path(path)
    provenance(path)
    with h5py.File(path, "r") as handle:
        current = int(handle.attrs.get(_FORMAT, 1)) >= FORMAT
    if current:
        return False
    load(path)  # every dataset checksum verified before anything is sealed
    with atomic_write(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as handle:
            handle.attrs[_FORMAT] = np.int64(FORMAT)
            seal_groups(handle)
    return True
