"""HDF5 storage with provenance, checksums and schema versions; the dataset manifest.

Save and load arrays (any library; stored as NumPy), nested dicts and registered
tnkit objects::

    tnkit.io.save("run.h5", {"energies": e, "meta": {"bond_dim": 32}})
    data = tnkit.io.load("run.h5", like=torch_tensor)   # arrays come back as torch

Reference data listed in the dataset manifests (tnkit's own and those of plug-ins, which
register through the ``tnkit.datasets`` entry point) is checksum-verified on load::

    ref = tnkit.io.load_dataset("svd_reference")

The files live in :func:`datasets_dir`: ``$TNKIT_DATASETS``, the source checkout of a
development install, or the per-user data folder.

Anything wrong with a file raises :class:`DataError` naming the file and the fault.
"""

from __future__ import annotations

from tnkit.io._atomic import atomic_write
from tnkit.io._chunked import ChunkedWriter
from tnkit.io._errors import DataError
from tnkit.io._generators import generate_dataset, generator_names, generator_parameters, register_generator
from tnkit.io._hdf5 import array_sha256, readable_file, save, sha256_file
from tnkit.io._locations import DATASETS_ENV, datasets_dir, datasets_origin, source_checkout, user_data_dir
from tnkit.io._manifest import (
    DatasetEntry,
    check_arrays,
    dataset_entry,
    dataset_path,
    load_dataset,
    manifest,
    manifest_sources,
    register_manifest,
    verify_dataset,
)
from tnkit.io._plugins import ENTRY_POINT_GROUP, load_plugins
from tnkit.io._reading import load, provenance
from tnkit.io._types import register_schema, register_type
from tnkit.io._upgrade import upgrade

__all__ = [
    "DataError",
    "ChunkedWriter",
    "save",
    "atomic_write",
    "readable_file",
    "upgrade",
    "load",
    "provenance",
    "sha256_file",
    "array_sha256",
    "register_type",
    "register_schema",
    "DatasetEntry",
    "DATASETS_ENV",
    "datasets_dir",
    "datasets_origin",
    "source_checkout",
    "user_data_dir",
    "register_manifest",
    "manifest_sources",
    "manifest",
    "dataset_entry",
    "dataset_path",
    "verify_dataset",
    "check_arrays",
    "load_dataset",
    "register_generator",
    "generate_dataset",
    "generator_names",
    "generator_parameters",
    "ENTRY_POINT_GROUP",
    "load_plugins",
]
