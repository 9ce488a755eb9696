"""A fit's groups as plain NumPy arrays, turned into an ArviZ DataTree only when it is needed.

The exact engine's posterior is a handful of arrays; building an ``xarray.DataTree`` for them
(ArviZ ``from_dict``) and writing it with ``DataTree.to_netcdf`` imports xarray, ArviZ,
h5netcdf *and* dask/distributed (xarray's writer asks dask for its scheduler lock), about
1.5 s of a ``vfsynth fit`` process. :class:`TreeParts` holds the same content — groups of
arrays, the dims and coords given to ``from_dict`` and the root attributes — and offers

* :meth:`TreeParts.to_datatree`: exactly the tree ``arviz_base.from_dict`` makes (used the
  first time anything reads ``FitResult.dt``);
* :meth:`TreeParts.nodes`: each group's variables and coordinates as that tree holds them
  (ArviZ's conventions: ``chain`` / ``draw`` sample dimensions with integer coordinates,
  none for groups whose name contains ``data``), which is what the store's digests read;
* :meth:`TreeParts.write_netcdf`: the NetCDF-4 file that ``DataTree.to_netcdf(engine=
  "h5netcdf")`` writes (same groups, dimensions, coordinate variables, ``_FillValue`` of
  floats and CF's ``dtype="bool"`` encoding of booleans), written with h5netcdf's own API, so
  ``xarray.open_datatree`` reads it back as the same tree.

The conventions are those of ArviZ's ``from_dict`` / ``dict_to_dataset``
(https://python.arviz.org/projects/base/en/latest/api/generated/arviz_base.from_dict.html)
and xarray's NetCDF encoding of booleans (CF conventions; ``xarray.coding.variables
.BooleanCoder``). ``tests/test_store.py`` checks both against the libraries themselves.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

SAMPLE_DIMS = ("chain", "draw")


@dataclass
class TreeParts:
    """Groups of arrays that make a fit's DataTree (see module docstring).

    Attributes
    ----------
    groups : dict
        Group name -> variable name -> array. Sampled groups have ``(chain, draw, ...)`` arrays.
    dims : dict
        Variable name -> names of its non-sample dimensions (as ``from_dict``'s ``dims``).
    coords : dict
        Dimension name -> coordinate values (as ``from_dict``'s ``coords``).
    attrs : dict
        Root attributes.
    """

    groups: dict[str, dict[str, np.ndarray]]
    dims: dict[str, list[str]]
    coords: dict[str, list]
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_datatree(self):
        """The ArviZ DataTree of these groups (``arviz_base.from_dict``) with the root attributes."""
        from arviz_base import from_dict

        dt = from_dict(self.groups, dims=self.dims, coords=self.coords)
        dt.attrs.update(self.attrs)
        return dt

    def _group_dims(self, group: str) -> tuple[str, ...]:
        return () if "data" in group else SAMPLE_DIMS

    def variables(self, group: str) -> Iterator[tuple[str, tuple[str, ...], np.ndarray]]:
        """``(name, dims, values)`` of each data variable and coordinate of ``group``."""
        used: dict[str, int] = {}
        sample = self._group_dims(group)
        for name, arr in self.groups[group].items():
            arr = np.asarray(arr)
            dims = (*sample, *self.dims.get(name, ()))
            if len(dims) != arr.ndim:
                raise ValueError(f"{group}/{name}: {arr.ndim} axes but dims {dims}")
            used.update(zip(dims, arr.shape, strict=True))
            yield name, dims, arr
        for dim, n in used.items():
            values = np.arange(n) if dim in SAMPLE_DIMS or dim not in self.coords else np.asarray(self.coords[dim])
            yield dim, (dim,), values

    def nodes(self) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        """``(path, {name: values})`` of the root and every group, as the DataTree holds them."""
        yield "/", {}
        for group in self.groups:
            yield f"/{group}", {name: values for name, _, values in self.variables(group)}

    def write_netcdf(self, path, attrs: Mapping[str, Any]) -> None:
        """Write the tree as NetCDF-4 (HDF5) to ``path`` with root attributes ``attrs``."""
        import h5netcdf

        now = datetime.datetime.now(datetime.UTC).isoformat()
        group_attrs = {"created_at": now, "creation_library": "vfsynth",
                       "creation_library_version": metadata.version("vfsynth"),
                       "creation_library_language": "Python"}
        with h5netcdf.File(path, "w") as f:
            f.attrs.update(dict(attrs))
            for group in self.groups:
                g = f.create_group(group)
                g.attrs.update(group_attrs)
                sample = self._group_dims(group)
                g.attrs["sample_dims"] = np.array(sample, dtype=object) if sample else np.array([], dtype=float)
                variables = list(self.variables(group))
                for name, dims, values in variables:
                    if dims == (name,):
                        g.dimensions[name] = len(values)
                for name, dims, values in variables:
                    _write_variable(g, name, dims, values)


def _write_variable(g, name: str, dims: tuple[str, ...], values: np.ndarray) -> None:
    """One variable with xarray's NetCDF encoding: floats get ``_FillValue`` NaN, booleans are
    int8 marked ``dtype="bool"``, text is variable-length UTF-8."""
    kind = values.dtype.kind
    if kind == "b":
        v = g.create_variable(name, dims, data=values.astype(np.int8))
        v.attrs["dtype"] = "bool"
    elif kind in "USO":
        import h5py

        g.create_variable(name, dims, dtype=h5py.special_dtype(vlen=str),
                          data=np.asarray([str(s) for s in values.ravel()], dtype=object).reshape(values.shape))
    elif kind == "f":
        g.create_variable(name, dims, data=values, fillvalue=np.nan)
    else:
        g.create_variable(name, dims, data=values)
