r"""Synthetic galaxy point clouds in a periodic box as a PyG dataset.

See :mod:`gdl.data.sim.galaxy_mocks` for the physics and ``docs/datasets.md`` for where it comes from.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data, Dataset

from .._paths import build_lock
from ..sim.galaxy_config import GalaxyConfig
from ..sim.galaxy_mocks import Cloud, GalaxyGenerator, make_generator

__all__ = ["CACHE_VERSION", "GalaxyClouds", "cloud_to_data"]

#: Bump when the generator changes its output, so that old caches are not reused.
CACHE_VERSION = 2
_ARRAYS = ("pos", "velocity", "shape", "params", "indices")


def cloud_to_data(cloud: Cloud, dtype: torch.dtype = torch.float32) -> Data:
    """A :class:`~torch_geometric.data.Data` with the fields of :class:`GalaxyClouds` from a
    :class:`~gdl.data.sim.galaxy_mocks.Cloud`."""
    p = cloud.params
    return _make_data(
        cloud.pos,
        cloud.velocity,
        cloud.shape,
        np.array([p.omega_m, p.sigma_8, p.bias]),
        cloud.box_size,
        dtype,
    )


def _make_data(pos, velocity, shape, params, box: float, dtype: torch.dtype) -> Data:
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    return Data(
        pos=t(pos),
        velocity=t(velocity),
        shape=t(shape),
        omega_m=t(params[0]).reshape(1, 1),
        sigma_8=t(params[1]).reshape(1, 1),
        bias=t(params[2]).reshape(1, 1),
        box=torch.full((1, 3), float(box), dtype=dtype),
    )


_WORKER_GENERATOR: GalaxyGenerator | None = None


def _init_worker(config: dict[str, Any], seed: int) -> None:
    global _WORKER_GENERATOR
    _WORKER_GENERATOR = make_generator(config, seed)


def _worker_chunk(indices: list[int], np_dtype: np.dtype) -> dict[str, np.ndarray]:
    assert _WORKER_GENERATOR is not None
    return _generate_chunk(_WORKER_GENERATOR, indices, np_dtype)


def _generate_chunk(
    generator: GalaxyGenerator, indices: list[int], np_dtype: np.dtype
) -> dict[str, np.ndarray]:
    clouds = [generator(i) for i in indices]
    return {
        "pos": np.stack([c.pos for c in clouds]).astype(np_dtype),
        "velocity": np.stack([c.velocity for c in clouds]).astype(np_dtype),
        "shape": np.stack([c.shape for c in clouds]).astype(np_dtype),
        "params": np.array(
            [[c.params.omega_m, c.params.sigma_8, c.params.bias] for c in clouds], dtype=np.float64
        ),
        "indices": np.asarray(indices, dtype=np.int64),
    }


class GalaxyClouds(Dataset):
    r"""Synthetic galaxy point clouds in a periodic box (``GALAXY.md``, ``docs/datasets.md``): a
    lognormal (default), Zel'dovich or 2LPT tracer field from a ΛCDM linear power spectrum
    (Eisenstein-Hu with baryon wiggles by default, or CAMB), with halo-like bias by default
    (abundance matching, :mod:`gdl.data.sim.halos`), linear-theory velocities and linear-alignment
    shapes. Stands in for the Quijote halo benchmarks of Balla et al. 2024
    (`arXiv:2410.20516 <https://arxiv.org/abs/2410.20516>`_) and CosmoBench (Huang et al. 2025,
    `arXiv:2507.03707 <https://arxiv.org/abs/2507.03707>`_); :mod:`gdl.data.datasets.catalogues` reads the
    real files.

    Cloud ``i`` is a pure function of ``(seed, i)`` and of the config: generated on access
    (``root=None``: nothing stored, ideal with data-loader workers), or generated once with a
    progress bar into ``root`` (chunks of ``chunk_size`` clouds written atomically, validated on
    load — a truncated or corrupted chunk is reported and regenerated) and then held in memory.

    Fields of each ``Data`` (units: Mpc/h, km/s); galaxies carry no node features:

    ============  =======  ======  ====================================================
    field         shape    type    meaning
    ============  =======  ======  ====================================================
    ``pos``       [N, 3]   pos     positions in [0, L)³ (redshift space along z if ``rsd``)
    ``velocity``  [N, 3]   1o      peculiar velocity (km/s), node target
    ``shape``     [N, 5]   2e      intrinsic-alignment shape (e3nn basis), node target
    ``omega_m``   [1, 1]   0e      Ωm, graph target
    ``sigma_8``   [1, 1]   0e      σ8, graph target
    ``bias``      [1, 1]   0e      large-scale bias b the cloud's points show
    ``box``       [1, 3]   inv.    box side lengths (L, L, L)
    ============  =======  ======  ====================================================

    Graphs are built by a transform, e.g. ``transform=PeriodicKNNGraph(10)``
    (:mod:`gdl.data.transforms.periodic`), which adds ``edge_index`` and minimum-image ``edge_vec``.

    **The true symmetry of the data.** A periodic cube is symmetric exactly under the 48-element
    cube group :math:`O_h` (axis permutations and flips about a lattice point, ``gdl.groups.cube_group()``)
    and under periodic translations: applying a cube-group element to a cloud's noise maps its
    positions, velocities (``1o``) and shapes (``2e``) exactly (tested). Full :math:`O(3)` holds only
    statistically (the ensemble is isotropic up to grid effects) and locally (small patches far from
    the scale of the box); a rotation that is not in :math:`O_h` does not map a periodic cloud to a
    periodic cloud. The anisotropy knob ε and redshift-space distortions reduce the exact group to
    the 16 elements that map the z axis to ±z (:math:`D_{4h}`) and break the statistical symmetry
    to :math:`O(2)` about z by a chosen amount.

    Args:
        num_clouds: number of clouds. Default ``1000``.
        config: a :class:`~gdl.data.sim.galaxy_mocks.GalaxyConfig` or a mapping of its fields.
            Default ``None`` (all defaults).
        seed: global seed. Default ``0``.
        root: cache directory; ``None`` generates on access. Default ``None``.
        transform: PyG transform applied on access (e.g. a periodic graph). Default ``None``.
        dtype: floating dtype of the fields (also of the cache). Default ``torch.float32``.
        progress: show a progress bar while caching. Default ``True``.
        chunk_size: clouds per cache file. Default ``64``.
        num_workers: processes used to fill the cache (0 = this process). Default ``0``.
    """

    def __init__(
        self,
        num_clouds: int = 1000,
        config: GalaxyConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        root: str | os.PathLike | None = None,
        transform: Callable | None = None,
        dtype: torch.dtype = torch.float32,
        progress: bool = True,
        chunk_size: int = 64,
        num_workers: int = 0,
    ):
        if int(num_clouds) != num_clouds or num_clouds < 0:
            raise ValueError(f"num_clouds must be a non-negative integer, got {num_clouds!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        self.num_clouds = int(num_clouds)
        self.generator = make_generator(config, seed)
        self.dtype = dtype
        self.chunk_size = int(chunk_size)
        self.progress = progress
        self.num_workers = int(num_workers)
        self.cache_dir: Path | None = None
        self._arrays: dict[str, np.ndarray] | None = None
        super().__init__(None, transform)
        if root is not None:
            self.cache_dir = Path(root) / f"galaxy-{self.cache_key}"
            self._arrays = self._load_or_generate()

    @property
    def config(self) -> GalaxyConfig:
        return self.generator.config

    @property
    def seed(self) -> int:
        return self.generator.seed

    @property
    def cache_key(self) -> str:
        """Hash of everything that determines the cached arrays."""
        spec = {
            "version": CACHE_VERSION,
            "config": self.config.as_dict(),
            "seed": self.seed,
            "dtype": str(self.dtype),
            "chunk_size": self.chunk_size,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    # -- PyG Dataset API ---------------------------------------------------------------------
    def len(self) -> int:
        return self.num_clouds

    def get(self, idx: int) -> Data:
        if not 0 <= idx < self.num_clouds:
            raise IndexError(f"cloud index {idx} out of range for {self.num_clouds} clouds")
        if self._arrays is None:
            return cloud_to_data(self.generator(idx), self.dtype)
        a = self._arrays
        return _make_data(
            a["pos"][idx],
            a["velocity"][idx],
            a["shape"][idx],
            a["params"][idx],
            self.config.box_size,
            self.dtype,
        )

    def cloud(self, idx: int) -> Cloud:
        """The float64 :class:`~gdl.data.sim.galaxy_mocks.Cloud` of index ``idx`` (with its density grid)."""
        return self.generator(idx)

    def __repr__(self) -> str:
        c = self.config
        where = "lazy" if self.cache_dir is None else f"cached in {self.cache_dir}"
        return (
            f"{type(self).__name__}({self.num_clouds}, mode={c.mode!r}, num_points={c.num_points}, "
            f"box_size={c.box_size}, grid={c.grid}, seed={self.seed}, {where})"
        )

    # -- cache -------------------------------------------------------------------------------
    def _chunk_path(self, j: int) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / f"chunk_{j:05d}.npz"

    def _chunk_indices(self, j: int) -> list[int]:
        """Clouds of chunk ``j`` needed by this dataset (the last chunk may be partial; a longer
        chunk written by a larger dataset is reused)."""
        return list(range(j * self.chunk_size, min((j + 1) * self.chunk_size, self.num_clouds)))

    def _load_or_generate(self) -> dict[str, np.ndarray]:
        assert self.cache_dir is not None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        meta = self.cache_dir / "config.json"
        if not meta.exists():
            _atomic_write_bytes(
                meta,
                json.dumps(
                    {"config": self.config.as_dict(), "seed": self.seed, "dtype": str(self.dtype)}, indent=1
                ).encode(),
            )
        num_chunks = -(-self.num_clouds // self.chunk_size)
        chunks: dict[int, dict[str, np.ndarray]] = {}
        absent, corrupt = [], []
        for j in range(num_chunks):
            path = self._chunk_path(j)
            loaded = self._read_chunk(path, j) if path.exists() else None
            if loaded is not None:
                chunks[j] = loaded
            else:
                (corrupt if path.exists() else absent).append(j)
        if absent or corrupt:
            with build_lock(self.cache_dir, "galaxy clouds"):
                # again under the lock: another job may have written the absent chunks while this one
                # waited (a chunk already reported corrupt is regenerated without a second warning)
                for j in absent:
                    path = self._chunk_path(j)
                    loaded = self._read_chunk(path, j) if path.exists() else None
                    if loaded is not None:
                        chunks[j] = loaded
                chunks.update(self._generate_chunks([j for j in range(num_chunks) if j not in chunks]))
        if num_chunks == 0:
            return {}
        return {k: np.concatenate([chunks[j][k] for j in range(num_chunks)]) for k in _ARRAYS}

    def _generate_chunks(self, missing: list[int]) -> dict[int, dict[str, np.ndarray]]:
        from tqdm.auto import tqdm

        np_dtype = torch.empty(0, dtype=self.dtype).numpy().dtype
        out: dict[int, dict[str, np.ndarray]] = {}
        bar = tqdm(
            total=sum(len(self._chunk_indices(j)) for j in missing),
            desc="galaxy clouds",
            unit="cloud",
            disable=not self.progress,
        )
        try:
            if self.num_workers > 0:
                init = (self.config.as_dict(), self.seed)  # one generator per process, not one per task
                with ProcessPoolExecutor(self.num_workers, initializer=_init_worker, initargs=init) as pool:
                    futures = {
                        j: pool.submit(_worker_chunk, self._chunk_indices(j), np_dtype) for j in missing
                    }
                    for j, fut in futures.items():
                        out[j] = fut.result()
                        self._write_chunk(j, out[j])
                        bar.update(len(self._chunk_indices(j)))
            else:
                for j in missing:
                    parts = []
                    for i in self._chunk_indices(j):
                        parts.append(_generate_chunk(self.generator, [i], np_dtype))
                        bar.update(1)
                    out[j] = {k: np.concatenate([p[k] for p in parts]) for k in _ARRAYS}
                    self._write_chunk(j, out[j])
        finally:
            bar.close()
        return out

    def _write_chunk(self, j: int, arrays: dict[str, np.ndarray]) -> None:
        path = self._chunk_path(j)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, key=np.array(self.cache_key), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read_chunk(self, path: Path, j: int) -> dict[str, np.ndarray] | None:
        """The arrays of a cache chunk, or ``None`` (with a warning) if it is unreadable or does
        not hold what it should."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in _ARRAYS}  # reading whole members checks the zip CRC
                key = str(z["key"])
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            warnings.warn(
                f"corrupt galaxy cache chunk {path} ({type(e).__name__}: {e}); regenerating it", stacklevel=3
            )
            return None
        c = self.config
        m = len(arrays["indices"])
        expected = {
            "pos": (m, c.num_points, 3),
            "velocity": (m, c.num_points, 3),
            "shape": (m, c.num_points, 5),
            "params": (m, 3),
            "indices": (m,),
        }
        problems = [
            f"{k} has shape {arrays[k].shape}, expected {s}"
            for k, s in expected.items()
            if arrays[k].shape != s
        ]
        if key != self.cache_key:
            problems.append(f"cache key {key!r} != {self.cache_key!r}")
        if not problems and not np.array_equal(
            arrays["indices"], np.arange(j * self.chunk_size, j * self.chunk_size + m)
        ):
            problems.append("cloud indices do not match the chunk")
        if not problems and not all(
            np.isfinite(arrays[k]).all() for k in ("pos", "velocity", "shape", "params")
        ):
            problems.append("non-finite values")
        if problems:
            warnings.warn(
                f"corrupt galaxy cache chunk {path} ({'; '.join(problems)}); regenerating it", stacklevel=3
            )
            return None
        need = len(self._chunk_indices(j))
        if m < need:  # a partial chunk of a smaller dataset: extend it
            return None
        return {k: v[:need] for k, v in arrays.items()}


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
