"""azstream: azimuthal integration with pyFAI's numbers, in C.

Switching from pyFAI is one line::

    ai = azstream.load("geometry.poni")          # was: ai = pyFAI.load("geometry.poni")
    res = ai.integrate1d(frame, 1000, unit="2th_deg", method=("bbox", "csr", "cython"))
    res.radial, res.intensity, res.sigma         # pyFAI's result attribute names

``integrate1d`` / ``integrate2d`` take pyFAI's keyword names and meanings (those of
``integrate1d_ng`` / ``integrate2d_ng``, pyFAI 2026.9's defaults included). The keywords
become libazstream's settings (``azs_settings_set``), which validate them and apply pyFAI's
defaults (the detector's dummy in the frame's type, its gap mask, ...). The integrator built
for a set of options, a frame shape and a pixel type is kept and reused. ``data`` is a 2D
NumPy array, or a compressed chunk (``bytes``, as h5py's ``read_direct_chunk`` gives it)
with ``shape=`` and ``dtype=``. The GIL is released while decoding and integrating.

``integrate_file`` integrates every frame of HDF5 stacks (Eiger masters, VDS) on threads and
returns the rows stacked (frames × bins), optionally writing them to a file too.
"""
import collections
import json
import os
import tempfile
import threading
import zlib

import numpy as np

from . import _azstream
from ._azstream import ArgumentError, Error

__all__ = ["load", "integrate_file", "AzimuthalIntegrator", "Integrate1dResult",
           "Integrate2dResult", "Error", "ArgumentError", "version", "__version__"]

__version__ = _azstream.version()


def version():
    """The version of libazstream inside (azs_version())."""
    return _azstream.version()


_CODECS = {"bslz4": _azstream.CODEC_BSLZ4, "bitshuffle": _azstream.CODEC_BSLZ4,
           "lz4": _azstream.CODEC_LZ4, "none": _azstream.CODEC_NONE, None: _azstream.CODEC_NONE}
_LAYOUTS = {"serial": _azstream.LAYOUT_SERIAL, "threads": _azstream.LAYOUT_THREADS,
            "gpu": _azstream.LAYOUT_GPU, 0: _azstream.LAYOUT_SERIAL, 1: _azstream.LAYOUT_THREADS,
            3: _azstream.LAYOUT_GPU}


def _split_of(method):
    """pyFAI's method (a name, a tuple like ("bbox", "csr", "cython"), or an
    IntegrationMethod) → its pixel splitting, the one part azstream uses: its engine is
    always the CSR one (what pyFAI's "ng" integrators run)."""
    if method is None:
        return "bbox"
    split = getattr(method, "split_lower", None) or getattr(method, "split", None)
    if isinstance(split, str):
        return split
    if isinstance(method, (tuple, list)):
        return str(method[0])
    return str(method)


def _range(r):
    if r is None:
        return None
    a, b = r
    return f"{float(a)!r}:{float(b)!r}"


def _error_model(m):
    if m is None:
        return None
    name = getattr(m, "name", m)  # pyFAI's ErrorModel enum
    name = str(name).lower()
    return None if name in ("no", "none", "") else name


class _Arrays:
    """mask / dark / flat arrays: the settings read them from files, so they are written
    once per distinct content (a checksum, as pyFAI keys its engines on the mask's) into a
    temporary .npy file that lives as long as the integrator that read it."""

    def __init__(self):
        self._dir = None

    def path(self, what, a):
        if a is None:
            return None, None
        if isinstance(a, (str, os.PathLike)):
            return os.fspath(a), ("file", os.fspath(a))
        a = np.ascontiguousarray(a)
        if what == "mask":
            a = (a != 0).astype(np.uint8)
        else:
            a = a.astype(np.float32)  # pyFAI's preprocessing is float32
        key = (what, a.shape, zlib.crc32(a.data))
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="azstream-")
        p = os.path.join(self._dir.name, f"{what}-{key[2]:08x}-{a.shape[0]}x{a.shape[1]}.npy")
        if not os.path.exists(p):
            np.save(p, a)
        return p, key


class _Result:
    def __iter__(self):
        return iter(self._tuple())

    def __getitem__(self, i):
        return self._tuple()[i]

    def __len__(self):
        return len(self._tuple())


class Integrate1dResult(_Result):
    """pyFAI's Integrate1dResult attributes: radial, intensity, sigma (None without an error
    model), unit, count, sum_signal, sum_normalization, sum_normalization2, sum_variance,
    std, sem, npt, method, error_model. Unpacks as (radial, intensity[, sigma])."""

    def __init__(self, radial, out, unit, method, error_model):
        self.radial = radial
        self.intensity = out["intensity"]
        self.sigma = out["sigma"]
        self.sem = out["sigma"]
        self.std = out["std"]
        self.count = out["count"]
        self.sum_signal = out["sum_signal"]
        self.sum_normalization = out["sum_normalization"]
        self.sum_normalization2 = out["sum_normalization2"]
        self.sum_variance = out["sum_variance"]
        self.unit = unit
        self.method = method
        self.error_model = error_model
        self.npt = len(radial)

    def _tuple(self):
        if self.sigma is None:
            return (self.radial, self.intensity)
        return (self.radial, self.intensity, self.sigma)


class Integrate2dResult(_Result):
    """pyFAI's Integrate2dResult attributes: intensity [npt_azim, npt_rad], radial,
    azimuthal (degrees), sigma, unit, count, sum_* and std / sem. Unpacks as
    (intensity, radial, azimuthal[, sigma])."""

    def __init__(self, radial, azimuthal, out, unit, method, error_model):
        shape = (len(azimuthal), len(radial))

        def r(a):
            return None if a is None else a.reshape(shape)
        self.radial = radial
        self.azimuthal = azimuthal
        self.intensity = r(out["intensity"])
        self.sigma = r(out["sigma"])
        self.sem = self.sigma
        self.std = r(out["std"])
        self.count = r(out["count"])
        self.sum_signal = r(out["sum_signal"])
        self.sum_normalization = r(out["sum_normalization"])
        self.sum_normalization2 = r(out["sum_normalization2"])
        self.sum_variance = r(out["sum_variance"])
        self.unit = unit
        self.method = method
        self.error_model = error_model

    def _tuple(self):
        if self.sigma is None:
            return (self.intensity, self.radial, self.azimuthal)
        return (self.intensity, self.radial, self.azimuthal, self.sigma)


def _geometry_json(geometry):
    """(poni path or None, config JSON or None) of what load() was given: a PONI file, a
    pyFAI config (dict, JSON text or a .json file)."""
    if isinstance(geometry, dict):
        return None, json.dumps(geometry)
    if isinstance(geometry, (str, os.PathLike)):
        p = os.fspath(geometry)
        if p.lstrip().startswith("{"):
            return None, p
        if p.lower().endswith(".json"):
            with open(p) as f:
                return None, f.read()
        return p, None
    raise TypeError("a PONI file name, or a pyFAI config (dict, JSON text, .json file)")


def _options(npt, npt_azim, unit, method, radial_range, azimuth_range, mask, dark, flat,
             dummy, delta_dummy, polarization_factor, correctSolidAngle, normalization_factor,
             error_model, arrays, azimuth_unit=None, explicit=None):
    """pyFAI keywords → (name, value) settings pairs, and the part of the cache key the
    arrays add. explicit: only the keywords given (integrate_file keeps the config's
    other options), else every option is set (pyFAI's defaults where not given)."""
    opts, key = [], []

    def put(name, value, given=True):
        if explicit is None or given:
            opts.append((name, value))
    put("npt", str(int(npt)), explicit is None or "npt" in explicit)
    if npt_azim is not None:
        put("npt-azim", str(int(npt_azim)), explicit is None or "npt_azim" in explicit)
    put("unit", str(getattr(unit, "name", unit)), explicit is None or "unit" in explicit)
    put("method", _split_of(method), explicit is None or "method" in explicit)
    if radial_range is not None:
        opts.append(("radial-range", _range(radial_range)))
    if azimuth_range is not None:
        opts.append(("azimuth-range", _range(azimuth_range)))
    if azimuth_unit is not None:
        opts.append(("unit-azim", str(azimuth_unit)))
    for what, a in (("mask", mask), ("dark", dark), ("flat", flat)):
        p, k = arrays.path(what, a)
        if p is not None:
            opts.append((what, p))
            key.append(k)
    if dummy is not None:
        opts.append(("dummy", repr(float(dummy))))
        if delta_dummy is not None:
            opts.append(("delta-dummy", repr(float(delta_dummy))))
    if polarization_factor is not None:
        opts.append(("polarization", repr(float(polarization_factor))))
    if not correctSolidAngle:
        opts.append(("no-solid-angle", None))
    if normalization_factor is not None and float(normalization_factor) != 1.0:
        opts.append(("normalization-factor", repr(float(normalization_factor))))
    em = _error_model(error_model)
    if em is not None:
        opts.append(("error-model", em))
    return opts, tuple(key)


def _frame_of(data, shape, dtype, codec):
    """(codec id, data, (ny, nx), dtype name) of a frame or a compressed chunk."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        if shape is None or dtype is None:
            raise ArgumentError("a compressed chunk needs shape= and dtype=")
        c = _CODECS.get(codec.lower() if isinstance(codec, str) else codec)
        if c is None:
            raise ArgumentError(f"codec {codec!r}: bslz4, lz4 or none")
        ny, nx = (int(v) for v in shape[-2:])
        return c, data, (ny, nx), np.dtype(dtype).name
    a = np.asarray(data)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ArgumentError(f"a frame is 2D, not {a.shape}")
    if a.dtype.byteorder not in ("=", "|", "<") or a.dtype.name == "bool":
        a = a.astype(a.dtype.newbyteorder("=") if a.dtype.name != "bool" else np.uint8)
    return _azstream.CODEC_NONE, a, a.shape, a.dtype.name


class AzimuthalIntegrator:
    """What azstream.load() returns: a geometry, and the integrators built from it for
    each set of options, frame shape and pixel type (the last 8 kept)."""

    _CACHE = 8

    def __init__(self, geometry):
        self._poni, self._config = _geometry_json(geometry)
        if self._config is not None:
            # Only the geometry of a config applies to integrate1d/2d (pyFAI.load reads only
            # that too); integrate_file uses the whole config.
            cfg = json.loads(self._config)
            if isinstance(cfg, dict) and "poni" in cfg:
                self._geometry_json = json.dumps({"poni": cfg["poni"]})
            else:
                self._geometry_json = self._config
        else:
            self._geometry_json = None
        self._cache = collections.OrderedDict()
        self._lock = threading.Lock()
        self._arrays = _Arrays()

    def __repr__(self):
        what = self._poni if self._poni else "config"
        return f"<azstream.AzimuthalIntegrator {what}>"

    def _integrator(self, opts, key_extra, shape, dtype):
        key = (tuple(opts), key_extra, tuple(shape), dtype)
        with self._lock:
            it = self._cache.get(key)
            if it is not None:
                self._cache.move_to_end(key)
                return it
        settings = ([("poni", self._poni)] if self._poni else []) + list(opts)
        it = _azstream.Integrator(settings, self._geometry_json, shape[0], shape[1], dtype)
        with self._lock:
            self._cache[key] = it
            while len(self._cache) > self._CACHE:
                self._cache.popitem(last=False)
        return it

    def integrator(self, npt=1000, npt_azim=None, shape=None, dtype="uint32", **kw):
        """The underlying _azstream.Integrator for these options (its radial / azimuthal
        bins, integrate_many for many frames on threads)."""
        opts, extra = self._opts(npt, npt_azim, kw)
        return self._integrator(opts, extra, shape, np.dtype(dtype).name)

    def _opts(self, npt, npt_azim, kw, azimuth_unit=None):
        allowed = {"unit", "method", "radial_range", "azimuth_range", "mask", "dark", "flat",
                   "dummy", "delta_dummy", "polarization_factor", "correctSolidAngle",
                   "normalization_factor", "error_model"}
        unknown = set(kw) - allowed
        if unknown:
            raise TypeError(f"unsupported keyword(s): {', '.join(sorted(unknown))}")
        return _options(npt, npt_azim, kw.get("unit", "q_nm^-1"),
                        kw.get("method", ("bbox", "csr", "cython")), kw.get("radial_range"),
                        kw.get("azimuth_range"), kw.get("mask"), kw.get("dark"), kw.get("flat"),
                        kw.get("dummy"), kw.get("delta_dummy"), kw.get("polarization_factor"),
                        kw.get("correctSolidAngle", True), kw.get("normalization_factor", 1.0),
                        kw.get("error_model"), self._arrays, azimuth_unit)

    def integrate1d(self, data, npt, *, shape=None, dtype=None, codec="bslz4", **kw):
        """pyFAI's integrate1d_ng: data (2D array, or a compressed chunk with shape= and
        dtype=), npt bins; unit, method, radial_range, azimuth_range, mask, dark, flat,
        dummy, delta_dummy, polarization_factor, correctSolidAngle, normalization_factor,
        error_model with pyFAI's meanings and defaults."""
        c, d, fshape, fdtype = _frame_of(data, shape, dtype, codec)
        opts, extra = self._opts(npt, None, kw)
        it = self._integrator(opts, extra, fshape, fdtype)
        out = it.integrate(d, c)
        return Integrate1dResult(it.radial, out, it.unit, it.method, it.error_model)

    integrate1d_ng = integrate1d

    def integrate2d(self, data, npt_rad, npt_azim=360, *, shape=None, dtype=None, codec="bslz4",
                    azimuth_unit=None, **kw):
        """pyFAI's integrate2d_ng: intensity [npt_azim, npt_rad]; the keywords of integrate1d."""
        c, d, fshape, fdtype = _frame_of(data, shape, dtype, codec)
        opts, extra = self._opts(npt_rad, npt_azim, kw, azimuth_unit)
        it = self._integrator(opts, extra, fshape, fdtype)
        out = it.integrate(d, c)
        return Integrate2dResult(it.radial, it.azimuthal, out, it.unit, it.method, it.error_model)

    integrate2d_ng = integrate2d


def load(geometry):
    """An integrator for a geometry: a PONI file, or a pyFAI integration config (a dict,
    JSON text or a .json file; its geometry is used)."""
    return AzimuthalIntegrator(geometry)


def integrate_file(path, poni_or_config, layout="threads", workers=0, output=None, *,
                   dataset=None, frames=None, skip_bad=False, npt=None, npt_azim=None, **kw):
    """Every frame of an HDF5 stack (or of several: a list) integrated with the settings of
    poni_or_config (a PONI file, or a pyFAI config: dict, JSON text, .json file, whose
    options apply) and the keywords of integrate1d (npt, npt_azim for 2D, unit, method ...),
    which override the config's. frames: (first, end) of each input. output: also write
    the rows to this file (.h5/.nxs or .dat), as the azstream command does.

    Returns a dict: intensity [frames, bins] (2D: [frames, npt_azim, npt]), sigma (or None),
    frame (the input frame of each row), frame_status, radial, azimuthal, unit, config."""
    inputs = [os.fspath(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    poni, config = _geometry_json(poni_or_config)
    arrays = _Arrays()
    given = set(kw) | {k for k, v in (("npt", npt), ("npt_azim", npt_azim)) if v is not None}
    opts, _ = _options(npt or 1000, npt_azim, kw.get("unit", "q_nm^-1"), kw.get("method"),
                       kw.get("radial_range"), kw.get("azimuth_range"), kw.get("mask"),
                       kw.get("dark"), kw.get("flat"), kw.get("dummy"), kw.get("delta_dummy"),
                       kw.get("polarization_factor"), kw.get("correctSolidAngle", True),
                       kw.get("normalization_factor"), kw.get("error_model"), arrays,
                       explicit=given)
    if poni:
        opts = [("poni", poni)] + opts
    if layout not in _LAYOUTS:
        raise ArgumentError(f"layout {layout!r}: serial, threads or gpu")
    first, end = (0, -1) if frames is None else frames
    r = _azstream.run_job(inputs, opts, config, dataset, _LAYOUTS[layout], int(workers),
                          int(first), int(end), None if output is None else os.fspath(output),
                          bool(skip_bad))
    if r["npt_azim"]:
        shape = (-1, r["npt_azim"], r["npt"])
        r["intensity"] = r["intensity"].reshape(shape)
        if r["sigma"] is not None:
            r["sigma"] = r["sigma"].reshape(shape)
    return r
