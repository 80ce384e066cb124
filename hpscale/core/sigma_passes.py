"""One pass of the σ_top iteration, G·X = Wᵀ(W·X), and the small linear algebra around it, on
the host (numpy) or on W's device (torch). Pure: arrays in, arrays out; no I/O, no printing.

``hpscale.core.sigma`` runs :func:`~hpscale.core.sigma.block_krylov_sigma` over one of these
pass backends (``HostTiles``: numpy row tiles widened from bf16/f16 into a reused buffer and
shared by threads; ``DeviceTiles``: torch, W kept in its stored dtype) with the matching linear
algebra (``NumpyLinalg`` or ``TorchLinalg``, the same steps), so the numpy and torch paths
visibly run the same method (``tests/test_spectrum_sigma.py`` checks they give the same σ and
the same number of passes).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .widen import widen_bf16, widen_f16

#: float32 bytes of W per row tile on the CPU: about the L2 cache of one core, so a tile is
#: widened once and read twice (W·X, then Wᵀ·Y) from cache.
TILE_BYTES = 1 << 20
#: Rows per tile at least: thinner tiles make the two products too skinny for BLAS (a
#: 4096×11008 pass took 60 ms at 23-row tiles, 11008×4096 38 ms at 64; measured).
_MIN_TILE_ROWS = 64
#: float32 bytes per row chunk on an accelerator: bounds the widened copy of a bf16 tensor.
DEVICE_TILE_BYTES = 1 << 26
#: At most this many threads share the row tiles of one pass: one per core this process may
#: run on (``os.sched_getaffinity``), with BLAS held at one thread each so they do not
#: oversubscribe the cores. Two threads scale 2.0× over one (measured on 2 cores: 13.8 against
#: 27 ms per bf16 11008×4096 pass); more than 2 are tested for the same σ, not timed (no larger
#: machine was at hand). The cap leaves a many-core host's other work its cores: beyond a few
#: threads a pass is bound by memory bandwidth (each reads the bf16 matrix once) and the
#: Rayleigh–Ritz step between passes is serial.
TILE_WORKERS = 8


def is_torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


# ----------------------------------------------------------------------------------------
# One pass: G·X = Wᵀ(W·X) over row tiles
# ----------------------------------------------------------------------------------------


def _blas_controller() -> Any:
    """threadpoolctl's controller (cached), or None when threadpoolctl is not installed."""
    global _CONTROLLER
    if _CONTROLLER is False:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _CONTROLLER = None
        else:
            _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


_CONTROLLER: Any = False
#: OpenBLAS kernel sets (threadpoolctl's ``architecture``) on which the second product of a
#: pass is faster as Zᵀ += Yᵀ·Wᵢ (b×n, reading the tile row by row) than as Z += Wᵢᵀ·Y:
#: measured per 11008×4096 bf16 pass on one thread of an AMD EPYC (Zen 5, OpenBLAS 0.3.31),
#: 27 ms against 34 ms with the Haswell kernels (26.6 against 33 ms with Zen's); with the
#: AVX-512 kernels forced on the same CPU (``OPENBLAS_CORETYPE``) it was no faster or slower
#: (SkylakeX 35.9 against 33.9 ms, Cooperlake 30.5 both, SapphireRapids 30.2 against 29.3), as
#: on the Intel Xeon earlier (``benchmarks/README.md``). Elsewhere the plain form is kept.
_TRANSPOSED_ARCHS = frozenset({"Haswell", "Zen"})
_POOL: Any = None


def _pool() -> Any:
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=max(1, min(TILE_WORKERS, _cpus()) - 1),
                                   thread_name_prefix="hpscale-tiles")
    return _POOL


def _transposed_products() -> bool:
    """Whether every BLAS that threadpoolctl sees is OpenBLAS running kernels in
    :data:`_TRANSPOSED_ARCHS` (then a pass keeps Z transposed). Deterministic for a machine
    and its libraries, so σ does not change from run to run."""
    controller = _blas_controller()
    if controller is None:
        return False
    blas = [lib for lib in controller.info() if lib.get("user_api") == "blas"]
    return bool(blas) and all(lib.get("internal_api") == "openblas"
                              and lib.get("architecture") in _TRANSPOSED_ARCHS for lib in blas)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class HostTiles:
    """G·X = Wᵀ(W·X) for a numpy W in one pass: for each row tile Wᵢ (widened from bf16/f16
    into a reused float32 buffer), Y = Wᵢ·X, Z += Wᵢᵀ·Y (or Zᵀ += Yᵀ·Wᵢ where that is faster:
    :func:`_transposed_products`), both from cache. The tiles are shared
    by up to :data:`TILE_WORKERS` threads (one per available core), each over a contiguous
    share of the rows with its own Z (summed in a fixed order, so σ is the same run to run),
    while BLAS is held at one thread (threadpoolctl). The first pass also sums the squares
    (``sumsq``), so ‖W‖_F costs no pass of its own. ``scale`` multiplies every tile."""

    def __init__(self, a: np.ndarray, kind: str, scale: float = 1.0, *, block: int) -> None:
        self.a, self.kind, self.scale, self.block = a, kind, scale, block
        m, n = a.shape
        self.n = n
        self.dtype = np.float64 if kind == "f64" else np.float32
        item = np.dtype(self.dtype).itemsize
        self.rows = max(_MIN_TILE_ROWS, TILE_BYTES // max(1, n * item))
        self.copy = kind == "bf16" or a.dtype != self.dtype or scale != 1.0 or not a.flags.c_contiguous
        tiles = -(-m // self.rows)
        self.workers = max(1, min(TILE_WORKERS, _cpus(), tiles)) if _blas_controller() is not None else 1
        bounds = [round(m * i / self.workers / self.rows) * self.rows for i in range(self.workers + 1)]
        bounds[-1] = m
        self.ranges = list(zip(bounds[:-1], bounds[1:], strict=True))
        self.transposed = _transposed_products()
        self.buffers = [self._buffers(block) for _ in self.ranges]
        self.sumsq: float | None = None

    def _buffers(self, block: int) -> dict[str, np.ndarray]:
        rows = self.rows
        zshape = (block, self.n) if self.transposed else (self.n, block)
        return {**self._tile_buffers(), "y": np.empty((rows, block), dtype=self.dtype),
                "z": np.empty(zshape, dtype=self.dtype), "t": np.empty(zshape, dtype=self.dtype)}

    def _tile_buffers(self) -> dict[str, np.ndarray]:
        shape = (self.rows, self.n) if self.copy else (0, 0)
        return {"tile": np.empty(shape, dtype=self.dtype),
                "scratch": np.empty(shape if self.kind == "f16" else (0, 0), dtype=np.uint32)}

    def tile(self, i: int, j: int, buf: dict[str, np.ndarray]) -> np.ndarray:
        """Rows i:j of W as a float array (widened and scaled into ``buf["tile"]`` when needed;
        bf16 and f16 by ``hpscale.core.widen``, both over a tile in cache)."""
        src = self.a[i:j]
        if not self.copy:
            return src
        out = buf["tile"][:j - i]
        if self.kind == "bf16":
            widen_bf16(src, out)
        elif self.kind == "f16":
            widen_f16(src, out, buf["scratch"][:j - i])
        else:
            np.copyto(out, src, casting="unsafe")
        if self.scale != 1.0:
            out *= self.scale
        return out

    def _part(self, lo: int, hi: int, x: np.ndarray, buf: dict[str, np.ndarray], squares: bool) -> float:
        b = x.shape[1]
        z, tmp = (buf["z"][:b], buf["t"][:b]) if self.transposed else (buf["z"][:, :b], buf["t"][:, :b])
        z.fill(0.0)
        total = 0.0
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # checked by the caller
            for i in range(lo, hi, self.rows):
                t = self.tile(i, min(hi, i + self.rows), buf)
                y = np.matmul(t, x, out=buf["y"][:t.shape[0], :b])
                if self.transposed:
                    np.matmul(y.T, t, out=tmp)  # Zᵀ += Yᵀ·Wᵢ
                else:
                    np.matmul(t.T, y, out=tmp)  # Z += Wᵢᵀ·Y
                z += tmp
                if squares:
                    total += _row_squares(t)
        return total

    def __call__(self, x64: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x64, dtype=self.dtype)
        squares = self.sumsq is None
        futures = [_pool().submit(self._part, lo, hi, x, buf, squares)
                   for (lo, hi), buf in zip(self.ranges[1:], self.buffers[1:], strict=True)]
        sums = [self._part(*self.ranges[0], x, self.buffers[0], squares)]
        sums += [f.result() for f in futures]
        if squares:
            self.sumsq = math.fsum(sums)
        b = x.shape[1]
        parts = [buf["z"][:b].T if self.transposed else buf["z"][:, :b] for buf in self.buffers]
        z = parts[0].astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the caller's to see
            for part in parts[1:]:
                z += part
        return z

    def _each_tile(self) -> Iterator[np.ndarray]:
        buf = self._tile_buffers()
        for i in range(0, self.a.shape[0], self.rows):
            yield self.tile(i, min(self.a.shape[0], i + self.rows), buf)

    def all_finite(self) -> bool:
        return all(bool(np.isfinite(t).all()) for t in self._each_tile())

    def abs_max(self) -> float:
        return max((float(np.max(np.abs(t))) for t in self._each_tile()), default=0.0)

    def scaled(self, scale: float) -> HostTiles:
        return HostTiles(self.a, self.kind, scale, block=self.block)


def _row_squares(t: np.ndarray) -> float:
    """Σ t_ij² of one tile: float32 dots per row, summed exactly (``math.fsum``) in float64.

    Per row, not one dot over the tile: a 64×4096 float32 dot of 262 144 terms erred 1.7e-6
    relative, per-row dots of 4096 terms ~6e-8 (measured). ``np.vecdot`` (numpy ≥ 2.0) took
    20 µs per 64×4096 tile against 38 µs for ``einsum("ij,ij->i")``, the fallback.
    """
    rows = _VECDOT(t, t) if _VECDOT is not None else np.einsum("ij,ij->i", t, t)
    return math.fsum(rows.tolist())


_VECDOT = getattr(np, "vecdot", None)  # numpy ≥ 2.0 (getattr: older numpy's stubs lack it)


class DeviceTiles:
    """G·X = Wᵀ(W·X) with torch on W's device, W kept in its stored dtype: a float32/float64
    W is used as is; a bf16/f16 W is widened to float32 per row chunk of
    :data:`DEVICE_TILE_BYTES` on every pass, so no float32 copy of it is kept. Every step stays
    on the device; the first pass also sums the squares (``sumsq``, one host read)."""

    def __init__(self, a: Any, scale: float = 1.0) -> None:
        import torch

        self.torch, self.a, self.scale = torch, a, scale
        self.n = int(a.shape[1])
        self.dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
        self.copy = a.dtype != self.dtype or scale != 1.0
        item = 8 if self.dtype == torch.float64 else 4
        self.rows = max(1, DEVICE_TILE_BYTES // max(1, self.n * item)) if self.copy else max(1, int(a.shape[0]))
        self.sumsq: float | None = None

    def _tiles(self) -> Iterator[Any]:
        for i in range(0, int(self.a.shape[0]), self.rows):
            t = self.a[i:i + self.rows]
            if self.copy:
                t = t.to(self.dtype)
                if self.scale != 1.0:
                    t = t * self.scale
            yield t

    def __call__(self, x64: Any) -> Any:
        torch = self.torch
        x = x64.to(self.dtype)
        z = torch.zeros((self.n, x.shape[1]), dtype=self.dtype, device=x.device)
        squares = self.sumsq is None
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        for t in self._tiles():
            z.addmm_(t.T, t @ x)
            if squares:  # per-row float32 norms, squared and summed in float64
                total += torch.linalg.vector_norm(t, dim=1).double().square().sum()
        if squares:
            self.sumsq = float(total)
        return z.to(torch.float64)

    def all_finite(self) -> bool:
        return all(bool(self.torch.isfinite(t).all()) for t in self._tiles())

    def abs_max(self) -> float:
        return max((float(t.abs().max()) for t in self._tiles()), default=0.0)

    def scaled(self, scale: float) -> DeviceTiles:
        return DeviceTiles(self.a, scale)


# ----------------------------------------------------------------------------------------
# The small linear algebra of a pass, on the host (numpy) or on W's device (torch)
# ----------------------------------------------------------------------------------------


class NumpyLinalg:
    def asarray(self, x: np.ndarray) -> np.ndarray:
        return x

    def empty(self, shape: tuple[int, int]) -> np.ndarray:
        return np.empty(shape)

    def zeros(self, shape: tuple[int, int]) -> np.ndarray:
        return np.zeros(shape)

    def svd(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.linalg.svd(w, full_matrices=False)

    def eigh(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.linalg.eigh(h)

    def norm(self, v: np.ndarray) -> np.ndarray:
        return np.linalg.norm(v)  # type: ignore[return-value]

    def eigvalsh(self, h: np.ndarray) -> np.ndarray:
        return np.linalg.eigvalsh(h)

    def diag(self, v: np.ndarray) -> np.ndarray:
        return np.diag(v)

    def minimum(self, a: Any, b: Any) -> Any:
        return np.minimum(a, b)

    def sqrt_clamped(self, v: Any) -> Any:
        return np.sqrt(np.maximum(v, 0.0))

    def host(self, *xs: Any) -> list[float]:
        return [float(v) for v in np.concatenate([np.reshape(x, -1) for x in xs])]


class TorchLinalg:
    def __init__(self, device: Any) -> None:
        import torch

        self.torch, self.device = torch, device

    def asarray(self, x: np.ndarray) -> Any:
        return self.torch.from_numpy(x).to(self.device)

    def empty(self, shape: tuple[int, int]) -> Any:
        return self.torch.empty(shape, dtype=self.torch.float64, device=self.device)

    def zeros(self, shape: tuple[int, int]) -> Any:
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def svd(self, w: Any) -> tuple[Any, Any, Any]:
        return self.torch.linalg.svd(w, full_matrices=False)

    def eigh(self, h: Any) -> tuple[Any, Any]:
        return self.torch.linalg.eigh(h)

    def norm(self, v: Any) -> Any:
        return self.torch.linalg.vector_norm(v)

    def eigvalsh(self, h: Any) -> Any:
        return self.torch.linalg.eigvalsh(h)

    def diag(self, v: Any) -> Any:
        return self.torch.diag(v)

    def minimum(self, a: Any, b: Any) -> Any:
        return self.torch.minimum(a, b)

    def sqrt_clamped(self, v: Any) -> Any:
        return self.torch.sqrt(self.torch.clamp(v, min=0.0))

    def host(self, *xs: Any) -> list[float]:
        """The scalars the stopping rule reads: one device → host copy per pass."""
        return [float(v) for v in self.torch.cat([x.reshape(-1) for x in xs]).cpu().tolist()]


def one_blas_thread() -> Any:
    """BLAS at one thread for the whole numpy iteration: the tile workers are the
    parallelism, and the small products of a pass (n×k, k×k) gain nothing from BLAS threads
    but lose much to their spinning on a loaded machine (measured: eigh of 144×144 took 74 ms
    with OpenBLAS's two threads on 2 busy cores)."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")
