"""Bringing files of an older tnkit format up to the current one.

Format 1 (tnkit before group digests) checks every dataset's sha256 but not the
attributes, member names or dtypes, so a damaged creation time, generator record or
scalar leaf loads silently; and it keeps text attributes as variable-length strings in the
global heap, whose damage can make the HDF5 library hang. :func:`upgrade` verifies a
format-1 file completely (every dataset checksum), then republishes it in format 2 —
text attributes as fixed-length strings, group digests added, arrays and attribute values
unchanged — atomically, under the file's lock. A file already in the current format is left alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from tnkit.io._atomic import atomic_write
from tnkit.io._hdf5 import _FORMAT, FORMAT, PathLike, seal_groups, set_attr
from tnkit.io._reading import load, provenance

__all__ = ["upgrade"]


def upgrade(path: PathLike) -> bool:
    """Rewrite ``path`` in the current file format; True when it changed.

    Parameters
    ----------
    path : str or path
        A tnkit HDF5 file, rewritten in place (atomically).

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
            objects: list[h5py.Group | h5py.Dataset] = [handle]
            handle.visititems(lambda _, obj: objects.append(obj))
            for obj in objects:  # variable-length strings (global heap) become fixed-length ones
                for name, value in list(obj.attrs.items()):
                    if isinstance(value, str):
                        del obj.attrs[name]
                        set_attr(obj, name, value)
            set_attr(handle, _FORMAT, np.int64(FORMAT))
            seal_groups(handle)
    return True
