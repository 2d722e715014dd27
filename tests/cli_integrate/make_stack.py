"""Small bitshuffle-LZ4 stacks and a PONI for the CLI tests, written with h5py + hdf5plugin
(independent of our encoder), plus helpers to corrupt one chunk in place."""
import os
import numpy as np

PONI = """# test geometry: generic detector, tilted
poni_version: 2
Detector: Detector
Detector_config: {"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [%d, %d]}
Distance: 0.12
Poni1: 0.0105
Poni2: 0.0071
Rot1: 0.012
Rot2: -0.021
Rot3: 0.003
Wavelength: 1.0e-10
"""


def write_poni(path, ny, nx):
    with open(path, "w") as f:
        f.write(PONI % (ny, nx))


def write_stack(path, nframes=12, ny=120, nx=100, seed=0, dtype=np.uint32):
    import h5py
    import hdf5plugin
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ny, 0:nx]
    r = np.hypot(y - 61.0, x - 41.3)
    base = 50 + 400 * np.exp(-((r % 23) - 11) ** 2 / 6.0)
    data = rng.poisson(base[None] * (1 + 0.05 * np.arange(nframes))[:, None, None]).astype(dtype)
    if dtype == np.uint32:
        data[:, 57:60, :] = 0xFFFFFFFF  # a module gap, as Eiger files mark them
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=data, chunks=(1, ny, nx),
                         **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
    return data


def corrupt_chunk(path, frame, nbytes=16):
    """Overwrite the first bytes (the bitshuffle header) of one frame's chunk."""
    import h5py
    with h5py.File(path, "r") as f:
        info = f["entry/data/data"].id.get_chunk_info_by_coord((frame, 0, 0))
        off = info.byte_offset
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(b"\xff" * nbytes)


def write_long_stack(path, nframes, ny, nx, frame=None):
    """Many frames cheaply: one precompressed chunk (`frame`, by default a ramp) written
    nframes times. Returns the chunk's size in bytes."""
    import h5py
    import hdf5plugin
    if frame is None:
        frame = (np.arange(ny * nx, dtype=np.uint32).reshape(ny, nx) % 97)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("entry/data/data", (nframes, ny, nx), np.uint32, chunks=(1, ny, nx),
                             **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        d[0] = frame
        raw = d.id.read_direct_chunk((0, 0, 0))[1]
        for i in range(1, nframes):
            d.id.write_direct_chunk((i, 0, 0), raw)
    return len(raw)
