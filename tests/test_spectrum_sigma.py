"""The σ_top core's paths agree: bf16 tiles widened per pass, one or two tile workers, and torch.

``hpscale.core.sigma`` runs one block Krylov iteration over three sources: numpy float
arrays, bf16 bit patterns widened tile by tile (``stored="bf16"``), and torch tensors whose
passes and small linear algebra stay on their device. Each must give the numpy answer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from spectrum_fixtures import f32_to_bf16_bits

from hpscale.core import sigma as core
from hpscale.core import sigma_passes as passes
from hpscale.core.sigma import matrix_stats, top_singular_value


def _bf16_matrix(m: int = 700, n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(bf16 bit patterns, the same values as float32)."""
    w = np.random.default_rng(seed).standard_normal((m, n), dtype=np.float32)
    bits = f32_to_bf16_bits(w)
    return bits, (bits.astype(np.uint32) << 16).view(np.float32)


def test_bf16_tiles_equal_the_widened_matrix() -> None:
    bits, wide = _bf16_matrix()
    assert matrix_stats(bits, stored="bf16") == matrix_stats(wide)
    exact = np.linalg.svd(wide.astype(np.float64), compute_uv=False)
    st = matrix_stats(bits, stored="bf16")
    assert 0 <= 1 - st.sigma_max / exact[0] <= 2.5e-3
    assert st.frobenius == pytest.approx(math.sqrt((exact ** 2).sum()), rel=1e-6)


def test_bf16_tiles_rescale_huge_and_tiny_entries() -> None:
    for factor in (1e30, 1e-30):
        bits, wide = _bf16_matrix()
        big = f32_to_bf16_bits(wide * np.float32(factor))
        ref = matrix_stats(wide)
        st = matrix_stats(big, stored="bf16")
        assert st.finite and st.sigma_max == pytest.approx(ref.sigma_max * factor, rel=1e-2)
        assert st.stable_rank == pytest.approx(ref.stable_rank, rel=1e-2)
    bits, _ = _bf16_matrix()
    bits[3, 4] = 0x7FC0  # NaN
    assert matrix_stats(bits, stored="bf16").finite is False


def test_stored_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="stored"):
        matrix_stats(np.zeros((300, 300), np.float32), stored="bf16")
    with pytest.raises(ValueError, match="stored"):
        matrix_stats(np.zeros((300, 300), np.uint16), stored="fp8")


@pytest.mark.parametrize("workers", [2, 4, 5])
def test_more_tile_workers_equal_one(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    pytest.importorskip("threadpoolctl")
    bits, _ = _bf16_matrix(4400, 300)  # 6 row tiles of 873 rows
    monkeypatch.setattr(passes, "TILE_WORKERS", 1)
    one = top_singular_value(bits, stored="bf16")
    monkeypatch.setattr(passes, "TILE_WORKERS", workers)
    monkeypatch.setattr(passes, "_cpus", lambda: workers)  # as on a host with that many cores
    op = passes.HostTiles(bits, "bf16", block=8)
    assert op.workers == workers and op.ranges[0][0] == 0 and op.ranges[-1][1] == 4400
    assert all(a[1] == b[0] for a, b in zip(op.ranges, op.ranges[1:], strict=False))
    many = top_singular_value(bits, stored="bf16")
    assert many.steps == one.steps
    assert many.sigma == pytest.approx(one.sigma, rel=1e-6)
    assert top_singular_value(bits, stored="bf16") == many  # the same σ run to run


@pytest.mark.parametrize("transposed", [False, True])
def test_both_product_forms_give_the_pass(monkeypatch: pytest.MonkeyPatch, transposed: bool) -> None:
    """Z += Wᵢᵀ·Y and Zᵀ += Yᵀ·Wᵢ compute the same G·X (to float32 rounding), both tile workers."""
    monkeypatch.setattr(passes, "_transposed_products", lambda: transposed)
    bits, wide = _bf16_matrix(1300, 700)
    x = np.random.default_rng(2).standard_normal((700, 8))
    op = passes.HostTiles(bits, "bf16", block=8)
    assert op.transposed is transposed
    exact = wide.astype(np.float64).T @ (wide.astype(np.float64) @ x)
    got = op(x)
    assert got.shape == (700, 8)
    assert np.abs(got - exact).max() <= 1e-5 * np.abs(exact).max()


def test_transposed_products_only_on_measured_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fake:
        def __init__(self, libs: list[dict[str, str]]) -> None:
            self.libs = libs

        def info(self) -> list[dict[str, str]]:
            return self.libs

    blas = {"user_api": "blas", "internal_api": "openblas"}
    cases = [([{**blas, "architecture": "Haswell"}], True), ([{**blas, "architecture": "Zen"}], True),
             ([{**blas, "architecture": "SkylakeX"}], False),
             ([{**blas, "architecture": "Haswell"}, {**blas, "architecture": "SkylakeX"}], False),
             ([{"user_api": "blas", "internal_api": "mkl"}], False), ([], False)]
    for libs, expected in cases:
        monkeypatch.setattr(passes, "_blas_controller", lambda libs=libs: Fake(libs))
        assert passes._transposed_products() is expected, libs
    monkeypatch.setattr(passes, "_blas_controller", lambda: None)
    assert passes._transposed_products() is False


def test_blas_runs_at_one_thread_inside_the_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    """No oversubscription: the tile workers are the parallelism, BLAS is held at one thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen: list[int] = []
    part = passes.HostTiles._part

    def spy(self, *args):  # type: ignore[no-untyped-def]
        seen.extend(p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas")
        return part(self, *args)

    monkeypatch.setattr(passes.HostTiles, "_part", spy)
    top_singular_value(np.random.default_rng(1).standard_normal((600, 400)).astype(np.float32))
    assert seen and set(seen) == {1}


def test_refined_residual_is_the_least_residual_over_the_basis() -> None:
    """‖(G − θI)·Q·s‖ minimised over unit s equals the least singular value of [H − θI; B·E_jᵀ],
    computed directly here, and never exceeds the Ritz vector's residual."""
    rng = np.random.default_rng(3)
    k, b = 24, 8
    a = rng.standard_normal((k, k))
    h = a @ a.T
    coeff = rng.standard_normal((b, b)) * 0.1  # B: the next block's coefficients
    evals, evecs = np.linalg.eigh(h)
    got = float(core._refined_residual(passes.NumpyLinalg(), evals, coeff @ evecs[k - b:, :]))
    stacked = np.vstack([h - evals[-1] * np.eye(k), np.hstack([np.zeros((b, k - b)), coeff])])
    assert got == pytest.approx(np.linalg.svd(stacked, compute_uv=False)[-1], rel=1e-9)
    assert got <= np.linalg.norm(coeff @ evecs[k - b:, -1])


def test_gap_bound_hand_values() -> None:
    assert core.gap_bound(10.0, 1.0, 5.0, 1.0) == pytest.approx(0.25)  # ρ²/δ, δ = 10 − (5 + 1)
    assert core.gap_bound(10.0, 3.0, 6.0, 2.0) == math.inf  # δ = 2 ≤ ρ: no bound


def test_gap_bound_bounds_the_top_eigenvalue_error() -> None:
    """Rayleigh–Ritz on a subspace near the top eigenvectors of a known spectrum: wherever the
    gap bound applies, λ₁ − θ₁ ≤ ρ₁²/δ, and it is tighter than the residual ρ₁ itself."""
    rng = np.random.default_rng(7)
    lam = np.concatenate([[10.0, 6.0], rng.uniform(0.0, 4.0, 38)])
    applied = 0
    for noise in (0.03, 0.01, 0.003, 0.001):
        v, _ = np.linalg.qr(rng.standard_normal((40, 40)))
        g = (v * lam) @ v.T
        q, _ = np.linalg.qr(v[:, :4] + noise * rng.standard_normal((40, 4)))
        evals, s = np.linalg.eigh(q.T @ g @ q)
        y = q @ s
        res = np.linalg.norm(g @ y - y * evals, axis=0)
        bound = core.gap_bound(evals[-1], res[-1], evals[-2], res[-2])
        if math.isfinite(bound):
            applied += 1
            assert 0 <= lam[0] - evals[-1] <= bound < res[-1]
    assert applied == 4


def test_error_estimate_certifies_a_singular_value_nearby() -> None:
    """Some singular value of W lies within error_estimate·σ of σ (and σ ≤ σ_top)."""
    w = np.random.default_rng(5).standard_normal((900, 600)).astype(np.float32)
    exact = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    for rtol in (1e-2, 2.5e-3):
        res = top_singular_value(w, rtol=rtol)
        assert res.converged and res.error_estimate <= rtol
        assert res.sigma <= exact[0] * (1 + 1e-6)
        assert np.min(np.abs(exact - res.sigma)) <= res.error_estimate * res.sigma * 1.01


torch = pytest.importorskip("torch")


@pytest.fixture
def device_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run CPU tensors through the torch path, as tensors on an accelerator are."""
    monkeypatch.setattr(core, "_CPU_TENSORS_ON_HOST_TILES", False)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float64"])
def test_cpu_tensors_run_on_the_host_tiles_without_a_copy(dtype: str) -> None:
    bits, wide = _bf16_matrix(700, 500)
    t = torch.nn.Parameter(torch.from_numpy(wide).to(getattr(torch, dtype)))  # requires_grad too
    host, stored = core._on_host(t, None)
    assert isinstance(host, np.ndarray) and np.shares_memory(host, t.detach().view(torch.uint8).numpy())
    if dtype == "bfloat16":
        assert stored == "bf16" and np.array_equal(host, bits)
        assert matrix_stats(t) == matrix_stats(bits, stored="bf16")
    else:
        assert stored is None and host.dtype == np.dtype(dtype)
        assert matrix_stats(t) == matrix_stats(t.detach().numpy())
    ints = torch.zeros((300, 300), dtype=torch.int32)
    assert core._on_host(ints, None)[0] is ints  # not a float tensor: the torch path as before
    strided = torch.from_numpy(np.ascontiguousarray(wide.T)).to(getattr(torch, dtype)).T  # a transposed view
    assert not strided.is_contiguous()
    got, ref = matrix_stats(strided), matrix_stats(t.detach())
    assert got.sigma_max == pytest.approx(ref.sigma_max, rel=1e-6) and got.passes == ref.passes


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("shape", [(700, 500), (400, 900)])
@pytest.mark.usefixtures("device_path")
def test_torch_path_equals_the_numpy_path(dtype: str, shape: tuple[int, int]) -> None:
    bits, wide = _bf16_matrix(*shape)
    t = torch.from_numpy(wide).to(getattr(torch, dtype))
    ref = top_singular_value(wide.astype(np.float64) if dtype == "float64" else wide)
    got = top_singular_value(t)
    assert got.steps == ref.steps and got.converged == ref.converged
    assert got.sigma == pytest.approx(ref.sigma, rel=1e-6)
    assert matrix_stats(t).frobenius == pytest.approx(matrix_stats(wide).frobenius, rel=1e-6)


@pytest.mark.usefixtures("device_path")
def test_torch_path_keeps_every_pass_on_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per pass: the product and the small linear algebra take and give torch tensors; the only
    device → host copy is the stopping rule's scalars (one per pass, plus the first pass's
    overflow check)."""
    _, wide = _bf16_matrix()
    reads: list[int] = []
    host = passes.TorchLinalg.host
    call = passes.DeviceTiles.__call__

    def counted(self, *xs):  # type: ignore[no-untyped-def]
        reads.append(len(xs))
        return host(self, *xs)

    def checked(self, x):  # type: ignore[no-untyped-def]
        assert isinstance(x, torch.Tensor)
        out = call(self, x)
        assert isinstance(out, torch.Tensor)
        return out

    monkeypatch.setattr(passes.TorchLinalg, "host", counted)
    monkeypatch.setattr(passes.DeviceTiles, "__call__", checked)
    monkeypatch.setattr(np.linalg, "svd", None)  # the numpy linear algebra is not used
    monkeypatch.setattr(np.linalg, "eigh", None)
    monkeypatch.setattr(np.linalg, "eigvalsh", None)
    res = top_singular_value(torch.from_numpy(wide).to(torch.bfloat16))
    assert res.converged and len(reads) == res.steps + 1


@pytest.mark.parametrize("path", ["host tiles", "device"])
def test_torch_spectrum_of_a_bf16_model_equals_the_checkpoint_core(monkeypatch: pytest.MonkeyPatch,
                                                                   path: str) -> None:
    monkeypatch.setattr(core, "_CPU_TENSORS_ON_HOST_TILES", path == "host tiles")
    import hpscale.torch as hpt

    layer = torch.nn.Linear(500, 700, bias=False)
    _, wide = _bf16_matrix()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(wide))
    stats = hpt.spectrum(layer.to(torch.bfloat16))["weight"].stats
    core_stats = matrix_stats(f32_to_bf16_bits(wide), stored="bf16")  # what a bf16 checkpoint gives
    assert stats.sigma_max == pytest.approx(core_stats.sigma_max, rel=1e-6)
    assert stats.frobenius == pytest.approx(core_stats.frobenius, rel=1e-6)
    assert stats.passes == core_stats.passes and stats.converged
