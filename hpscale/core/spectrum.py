"""Spectral diagnostics of weight matrices: σ_top, grouping, proxy/target pairing and compare.

Pure: numpy arrays (or torch tensors for ``device``) in, numbers out; no file access, no
printing. Readers live in ``hpscale.checkpoints``; the CLI in ``hpscale.commands.spectrum``.

Why σ_top: Fan et al. (2025, arXiv 2510.15262) show that under AdamW the top singular value
of a trained weight matrix settles at σ_top ≈ C·√(η/λ)·d^0.75, with η the learning rate, λ
the (PyTorch-style, lr-coupled) weight decay and d the width. The predicted ratio
target/proxy is ``hpscale.core.rules.sigma_top_ratio``; the η and λ ratios it takes come from
the same composition ``transfer`` uses (``hpscale.core.compose``), so batch and dataset
changes are included. The caller passes a ``predict(m)`` function (see :func:`compare`).

For other modules (``hpscale.torch.spectrum`` uses the same grouping and core):

- grouping: ``Grouper().place(name, shape)`` → :class:`Placement` (group, sublayer role,
  layer index, how to cut the tensor into matrices); ``Grouper().group_of(name, shape)`` →
  the group name only. ``Grouper.for_tensors(shapes, model)`` infers the width from the
  shapes when no ``ModelInfo`` is known; ``Grouper.from_specs(["hidden=REGEX"])`` adds user
  patterns.
- statistics: :func:`tensor_matrices` cuts one tensor into its matrices per a
  ``Placement`` (fused q/k/v, stacked experts); :func:`matrix_stats` gives σ_top, ‖W‖_F and
  stable rank of one matrix (numpy array, or torch tensor on any device);
  :func:`records_for` turns one tensor's results into :class:`TensorRecord` rows and
  :func:`group_summary` summarises them — what ``hpscale.checkpoints.scan_checkpoint`` does
  per tensor of a file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InputError
from .namepattern import NamePattern
from .rules import SIGMA_TOP_RTOL

GROUPS: tuple[str, ...] = ("embedding", "hidden", "readout", "vector")
"""Groups a user may assign. ``unmatched`` is reported too but is never assignable."""

UNMATCHED = "unmatched"

SIGMA_RTOL = SIGMA_TOP_RTOL
"""Target relative error of σ_top (``hpscale.core.rules.SIGMA_TOP_RTOL``); see
:func:`lanczos_sigma` for how the iteration decides it is there."""

MAX_NAME_CHARS = 1024
"""Longest tensor name accepted (real names are < 150 characters); bounds grouping time."""


# ----------------------------------------------------------------------------------------
# σ_top
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigmaTop:
    """Result of :func:`top_singular_value`.

    ``error_estimate`` is the relative σ error the stopping rule estimated: a bound when the
    residual rule stopped, the 1/j² extrapolation when the flat-top rule did (0.0 for the direct
    path); ``steps`` counts applications of the Gram matrix (one pass over W each).
    """

    sigma: float
    error_estimate: float
    steps: int
    converged: bool
    method: str


#: Lanczos takes at least this many steps before the flat-top estimate may stop it: the
#: 1/j² law below describes the asymptotic regime, not the first few steps.
_MIN_STEPS = 6
#: Bytes of W per block in the fused product AᵀA·v (about the L2 cache of one core).
_BLOCK_BYTES = 1 << 20
#: A side at most this long: σ² from the eigenvalues of the k×k Gram matrix (exact, fast).
DIRECT_SIDE = 256
#: Up to this short side, Lanczos runs from two independent random starts and keeps the larger
#: σ: a single start can settle for many steps on the second eigenvalue (or stop on a plateau
#: below the top edge) when its weight on the top eigenvector is small, and the top gap, which
#: shrinks as n^(−2/3) (Tracy–Widom), is still large enough to matter at these sizes. Measured on
#: Gaussian and uniform matrices of 200×300 to 1536² (``tests/test_spectrum_accuracy.py``):
#: one start missed 0.5 % in 1–5 % of matrices (by up to 2.8 %); two starts at the tighter
#: threshold below never did.
TWO_STARTS_SIDE = 1536
#: The stopping rule is given this fraction of the target error: its flat-top estimate is
#: measured to fall short of the true error by up to 2.6×, and a plateau can fool it (see
#: ``lanczos_sigma``); at half the target the worst error over those matrices was 0.49 %.
STOP_FRACTION = 0.5


class _NumpyGram:
    """G·v = Aᵀ(A·v) in one pass over A: for each block of rows Aᵢ (cache-resident),
    z += Aᵢᵀ(Aᵢ·v). Two separate products would read A from memory twice."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        m, n = a.shape
        self.n = n
        self.rows = max(16, _BLOCK_BYTES // max(1, n * a.itemsize))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        a, rows = self.a, self.rows
        x = v.astype(a.dtype)
        if a.shape[0] <= rows:
            return (a.T @ (a @ x)).astype(np.float64)
        z = np.zeros(self.n, dtype=a.dtype)
        for i in range(0, a.shape[0], rows):
            block = a[i:i + rows]
            z += block.T @ (block @ x)
        return z.astype(np.float64)


class _TorchGram:
    """G·v = Aᵀ(A·v) with torch on A's device; vectors travel as float64 numpy arrays."""

    def __init__(self, a: Any) -> None:
        self.a = a
        self.n = int(a.shape[1])

    def __call__(self, v: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(v).to(device=self.a.device, dtype=self.a.dtype)
        z = self.a.T @ (self.a @ x)
        return z.to(dtype=torch.float64).cpu().numpy()


def _is_torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


def lanczos_sigma(gram: Callable[[np.ndarray], np.ndarray], n: int, *, rtol: float = SIGMA_RTOL,
                  max_steps: int = 300, seed: int = 0) -> SigmaTop:
    """σ_top = √λ_max(G) of a positive semi-definite G = AᵀA (n×n) given as v ↦ G·v.

    Method: Lanczos with full reorthogonalisation (Golub & Van Loan, *Matrix Computations*,
    4th ed., §10.1), one vector per step, from a Gaussian random start. After j steps the
    top eigenvalue θⱼ of the j×j tridiagonal Tⱼ is a lower bound of λ_max (Cauchy
    interlacing) that rises with j. It stops at the first of:

    1. the residual bound: βⱼ·|sⱼ| ≤ 2·rtol·θⱼ (sⱼ the last entry of T's top eigenvector)
       puts an eigenvalue of G within 2·rtol·θ of θ (Golub & Van Loan Thm 8.1.13), i.e. a
       singular value within ≈ rtol of √θ; this is how spectra with a gap at the top stop;
    2. the flat-top estimate: for a spectrum whose density vanishes like a power at the top
       edge (Gaussian/Marchenko–Pastur matrices, most trained weights), the top Ritz value
       is the largest zero of the j-th orthogonal polynomial of the start vector's spectral
       measure and approaches λ_max as 1/j² (Kuijlaars 2000, "Which eigenvalues are found
       by the Lanczos method?", SIAM J. Matrix Anal. Appl. 22(1)). Then
       λ_max − θⱼ ≈ (j/2)·(θⱼ − θⱼ₋₁), a σ error of ≈ (j/4)·(θⱼ − θⱼ₋₁)/θⱼ; the rule
       stops when that estimate is ≤ rtol/2 (and j ≥ 6) — a safety factor of 2, because on
       Gaussian matrices the estimate was measured to fall short of the true error by up to
       2.6× (the asymptotic law holds only roughly at j ≈ 10–30). Faster (geometric)
       convergence only makes the estimate more conservative.

    With a random start the top Ritz value converges without needing a spectral gap
    (Kuczyński & Woźniakowski 1992; Musco & Musco 2015, arXiv 1504.05477). Measured on
    Gaussian 4096², 4096×11008 and 1024×4096 float32 matrices (the flattest tops a trained
    layer shows), the default rtol = 0.25 % gave errors up to 0.26 % (σ is a lower bound)
    in 16–30 steps (``benchmarks/bench_spectrum.py``); the diagnostic's target is 0.5 %.

    Why one vector per step and not a block (randomized block Krylov, b ≥ 2 vectors per
    pass): a pass over W in float32 is memory-bound at b = 1, and with OpenBLAS a product
    with 2–8 vectors costs 3–4× a single one (measured on 4096² and 4096×11008, 2 cores),
    while flat tops need about the same number of passes for any b ≤ 8 — the polynomial
    degree, not the block size, sets the accuracy there.

    Args:
        gram: v ↦ G·v for float64 vectors of length n.
        n: dimension of G.
        rtol: target relative error of σ (default :data:`SIGMA_RTOL`).
        max_steps: at most this many steps (then ``converged=False``; σ is a lower bound).
        seed: seed of the random start (results are deterministic).
    """
    if n == 0:
        return SigmaTop(0.0, 0.0, 0, True, "lanczos")
    cap = max(1, min(max_steps, n))
    rng = np.random.default_rng(seed)
    basis = np.empty((cap + 1, n))
    v = rng.standard_normal(n)
    basis[0] = v / np.linalg.norm(v)
    alphas: list[float] = []
    betas: list[float] = []
    theta_prev = 0.0
    lam_tol = 2.0 * rtol
    for j in range(cap):
        w = gram(basis[j])
        alphas.append(float(basis[j] @ w))
        done = basis[:j + 1]
        w -= done.T @ (done @ w)  # twice is enough (Giraud, Langou & Rozložník 2005)
        w -= done.T @ (done @ w)
        beta = float(np.linalg.norm(w))
        t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        evals, evecs = np.linalg.eigh(t)
        theta = float(evals[-1])
        steps = j + 1
        if not theta > 0.0:
            if math.isnan(theta):
                return SigmaTop(math.nan, math.nan, steps, False, "lanczos")
            return SigmaTop(0.0, 0.0, steps, True, "lanczos")  # W = 0
        residual = beta * abs(float(evecs[-1, -1]))
        flat = steps * (theta - theta_prev)
        if residual <= lam_tol * theta or beta <= 1e-12 * theta:
            return SigmaTop(math.sqrt(theta), residual / theta / 2, steps, True, "lanczos")
        if steps >= _MIN_STEPS and flat <= lam_tol * theta:
            return SigmaTop(math.sqrt(theta), flat / theta / 4, steps, True, "lanczos")
        theta_prev = theta
        if steps == cap:
            break
        betas.append(beta)
        basis[j + 1] = w / beta
    return SigmaTop(math.sqrt(theta), min(residual / 2, flat / 4) / theta, cap, False, "lanczos")


def top_singular_value(
    w: Any, *, rtol: float = SIGMA_RTOL, max_steps: int = 300, seed: int = 0, method: str = "auto",
) -> SigmaTop:
    """Largest singular value σ_top = ‖W‖₂ of a 2-D float array (numpy, or a torch tensor on
    any device), without a full SVD.

    ``method``: "auto" (Gram eigenvalues when a side is ≤ :data:`DIRECT_SIDE`, else
    :func:`lanczos_sigma` stopped at ``STOP_FRACTION``·``rtol``, from two starts when the short
    side is ≤ :data:`TWO_STARTS_SIDE`), "lanczos" (the same, always), or "direct". The direct path forms the k×k Gram
    matrix of the short side in float64 and takes its top eigenvalue (exact to rounding).
    Entries must be finite and their squares must not overflow: :func:`matrix_stats`
    rescales first.
    """
    if len(w.shape) != 2:
        raise ValueError(f"top_singular_value needs a 2-D array, got shape {tuple(w.shape)}")
    if method not in ("auto", "lanczos", "direct"):
        raise ValueError(f"method: {method!r}: allowed auto, lanczos, direct")
    m, n = (int(d) for d in w.shape)
    if min(m, n) == 0:
        return SigmaTop(0.0, 0.0, 0, True, "direct")
    if method == "direct" or (method == "auto" and min(m, n) <= DIRECT_SIDE):
        a = w.double().cpu().numpy() if _is_torch(w) else np.asarray(w, dtype=np.float64)
        g = a @ a.T if m <= n else a.T @ a
        top = float(np.linalg.eigvalsh(g)[-1])
        return SigmaTop(math.sqrt(max(top, 0.0)), 0.0, 0, True, "direct")
    if _is_torch(w):
        gram: Callable[[np.ndarray], np.ndarray] = _TorchGram(w)
    else:
        a = w if w.dtype in (np.float32, np.float64) else w.astype(np.float32)
        gram = _NumpyGram(np.ascontiguousarray(a))
    starts = (seed, seed + 1) if min(m, n) <= TWO_STARTS_SIDE else (seed,)
    runs = [lanczos_sigma(gram, n, rtol=rtol * STOP_FRACTION, max_steps=max_steps, seed=start)
            for start in starts]
    best = max(runs, key=lambda r: r.sigma if math.isfinite(r.sigma) else math.inf)
    return replace(best, steps=sum(r.steps for r in runs), converged=all(r.converged for r in runs))


@dataclass(frozen=True)
class MatrixStats:
    """σ_top, Frobenius norm and stable rank ‖W‖_F²/σ_top² of one matrix (None if not finite).

    ``error_estimate`` (added with the Lanczos stopping rule) is the relative σ error the
    iteration estimated (:class:`SigmaTop`); ``converged`` is False when it stopped at its
    step limit.
    """

    sigma_max: float | None
    frobenius: float | None
    stable_rank: float | None
    finite: bool
    converged: bool
    error_estimate: float = 0.0


def _sum_squares(a: Any) -> float:
    if _is_torch(a):
        flat = a.reshape(-1)
        return float(flat.dot(flat))
    flat = a.reshape(-1)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # checked by the caller
        return float(np.dot(flat, flat))


def _abs_max(a: Any) -> float:
    if _is_torch(a):
        return float(a.abs().max())
    return float(np.max(np.abs(a)))


def _all_finite(a: Any) -> bool:
    if _is_torch(a):
        import torch

        return bool(torch.isfinite(a).all())
    return bool(np.isfinite(a).all())


def matrix_stats(w: Any, **kwargs: Any) -> MatrixStats:
    """σ_top, Frobenius norm and stable rank of ``w`` reshaped by :func:`as_matrix`.

    ``w`` is a numpy array or a torch tensor (then the products run on its device). Sums of
    squares overflow float32 for entries ≳ 1e19 and underflow float64 for entries ≲ 1e-154;
    in either case the matrix is divided by s = max|wᵢⱼ| first and the results scaled back
    (σ(W) = s·σ(W/s)), so no finite matrix gives an inf, a NaN or a zero by rounding.
    Non-finite entries give all-None statistics with ``finite=False``; the stable rank is
    None for an all-zero matrix. ``kwargs`` go to :func:`top_singular_value`.
    """
    shape2 = as_matrix(tuple(int(d) for d in w.shape))
    if shape2 is None:
        raise ValueError(f"matrix_stats needs a matrix-like array, got shape {tuple(w.shape)}")
    a = w.reshape(shape2)
    if _is_torch(a):
        import torch

        if a.dtype not in (torch.float32, torch.float64):
            a = a.float()
        dtype_info = np.finfo(np.float64 if a.dtype == torch.float64 else np.float32)
    else:
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float32)
        dtype_info = np.finfo(a.dtype)
    sumsq = _sum_squares(a)
    scale = 1.0
    safe = float(dtype_info.tiny) / float(dtype_info.eps) < sumsq < float(dtype_info.max)
    if not safe:
        if not _all_finite(a):
            return MatrixStats(None, None, None, False, True)
        scale = _abs_max(a)
        if scale == 0.0:
            return MatrixStats(0.0, 0.0, None, True, True)
        a = a / scale
        sumsq = _sum_squares(a)
    res = top_singular_value(a, **kwargs)
    if not math.isfinite(res.sigma):
        return MatrixStats(None, None, None, False, res.converged)
    frob = math.sqrt(sumsq)
    stable = (frob / res.sigma) ** 2 if res.sigma > 0.0 else None
    return MatrixStats(scale * res.sigma, scale * frob, stable, True, res.converged, res.error_estimate)


def as_matrix(shape: Sequence[int]) -> tuple[int, int] | None:
    """The 2-D shape a tensor is analysed as, or None if it is vector-like.

    Size-1 axes are dropped first (ViT ``pos_embed`` (1, N, d) → (N, d)); a tensor with at
    most one remaining axis has no meaningful σ_top (it is a vector). Conv kernels
    (out, in, kh, kw) and other ≥3-D tensors become (out, in·kh·kw) — the standard
    "output channels × fan-in" unfolding. (Stacked MoE experts are cut per expert by
    :func:`tensor_matrices` before this.)
    """
    dims = [int(d) for d in shape if int(d) != 1]
    if len(dims) <= 1:
        return None
    rest = 1
    for d in dims[1:]:
        rest *= d
    return dims[0], rest


# ----------------------------------------------------------------------------------------
# What a checkpoint's config says about the model
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """Width, depth, vocabulary, heads and tied embeddings of a model, if known.

    Read from a Hugging Face ``config.json`` by ``hpscale.checkpoints`` (``source`` says so),
    or inferred from the tensor shapes (:meth:`infer`; then only ``width``).
    """

    width: int | None = None
    depth: int | None = None
    vocab_size: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    tied: bool | None = None
    model_type: str | None = None
    source: str = "none"

    @staticmethod
    def infer(shapes: Iterable[Sequence[int]]) -> ModelInfo:
        """The width as the most common axis length among the matrices (d appears in nearly
        every matrix of a transformer: d×d, d×4d, vocab×d, …); ties go to the larger."""
        counts: dict[int, int] = {}
        for shape in shapes:
            dims = [int(d) for d in shape if int(d) != 1]
            if len(dims) >= 2:
                for d in set(dims):
                    counts[d] = counts.get(d, 0) + 1
        if not counts:
            return ModelInfo(source="tensor shapes")
        width = max(counts, key=lambda d: (counts[d], d))
        return ModelInfo(width=width, source="tensor shapes")

    def attention_sizes(self) -> tuple[int, int] | None:
        """(q rows, k/v rows) of a fused projection: heads·head_dim and kv_heads·head_dim."""
        if self.num_heads is None or self.width is None:
            return None
        head = self.head_dim or self.width // self.num_heads
        kv = self.num_kv_heads or self.num_heads
        return self.num_heads * head, kv * head


# ----------------------------------------------------------------------------------------
# Grouping
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """How a fused tensor is cut along ``axis`` into named matrices.

    The axis holds ``heads`` repeats of the parts, each of ``sizes`` (in order of
    ``labels``): heads = 1 for contiguous blocks (GPT-2 ``c_attn`` columns q|k|v, timm
    ``qkv`` rows), heads = n_heads for GPT-NeoX ``query_key_value`` whose rows are laid out
    per head as (head, {q,k,v}, head_dim).
    """

    axis: int
    labels: tuple[str, ...]
    sizes: tuple[int, ...]
    heads: int = 1


@dataclass(frozen=True)
class Placement:
    """What grouping says about one tensor.

    - ``group``: embedding / hidden / readout / vector / unmatched;
    - ``role``: sublayer type (q, k, v, o, qkv, up, gate, down, gate_up, tok_embed, pos_embed,
      readout, router, conv, …; "(experts)" is appended for routed MoE experts);
    - ``layer``: the block index (the first integer in the name) and ``stack`` the name up to
      it (``model.layers``); None outside blocks;
    - ``split``: how a fused tensor is cut (None: one matrix); ``experts``: axis 0 stacks one
      matrix per expert; ``transposed``: stored (in, out), as GPT-2's ``Conv1D``;
    - ``grouped_by``: "pattern" (user ``--group``), "name", "shape" (the heuristic),
      "vector" (≤ 1 non-unit axis);
    - ``tied``: the input embedding also serves as the readout (tied embeddings).
    """

    group: str
    role: str
    layer: int | None = None
    stack: str | None = None
    indices: tuple[int, ...] = ()
    split: Split | None = None
    experts: bool = False
    transposed: bool = False
    grouped_by: str = "name"
    tied: bool = False


_PARAM_SUFFIXES = frozenset({"weight", "bias", "scale", "gamma", "beta", "g", "b", "w", "kernel"})
_ATTN = frozenset({"attn", "attention", "self_attn", "self_attention", "selfattention", "self",
                   "encdecattention", "cross_attn", "crossattention", "mha", "mixer_attn"})
_MOE = frozenset({"mlp", "block_sparse_moe", "moe", "feed_forward", "ffn", "sparse_moe"})
_CONV1D_TYPES = frozenset({"gpt2", "openai-gpt", "imagegpt", "decision_transformer"})
_HEAD_INTERLEAVED_TYPES = frozenset({"gpt_neox", "bloom", "gpt_neox_japanese"})

_TOK = frozenset({"wte", "embed_tokens", "tok_embeddings", "word_embeddings", "embed_in",
                  "shared", "token_embedding", "tok_embed", "embedding", "embeddings"})
_POS = frozenset({"wpe", "position_embeddings", "pos_embed", "position_embedding",
                  "embed_positions", "pos_emb"})
_TOKENS = frozenset({"cls_token", "class_embedding", "dist_token", "mask_token", "reg_token",
                     "register_tokens"})
_READOUT = frozenset({"lm_head", "embed_out", "classifier", "score", "qa_outputs", "logits"})
_READOUT_TOP = frozenset({"output", "head", "fc", "ff_out", "decoder", "heads"})
_Q = frozenset({"q_proj", "wq", "query", "q_lin", "to_q"})
_K = frozenset({"k_proj", "wk", "key", "k_lin", "to_k"})
_V = frozenset({"v_proj", "wv", "value", "v_lin", "to_v"})
_O = frozenset({"o_proj", "out_lin", "attn_out", "to_out"})
_QKV = frozenset({"c_attn", "query_key_value", "qkv", "qkv_proj", "att_proj", "wqkv", "w_pack"})
_UP = frozenset({"up_proj", "c_fc", "fc1", "fc_in", "dense_h_to_4h", "wi", "wi_1", "lin1"})
_GATE = frozenset({"gate_proj", "wi_0"})
_DOWN = frozenset({"down_proj", "fc2", "fc_out", "dense_4h_to_h", "lin2"})


def _components(name: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Name components without the parameter suffix, and (position, value) of integer ones."""
    comps = name.split(".")
    if len(comps) > 1 and comps[-1].lower() in _PARAM_SUFFIXES:
        comps = comps[:-1]
    numbers = [(i, int(c)) for i, c in enumerate(comps) if c.isdigit() and len(c) < 10]
    return comps, numbers


def _third_split(shape: Sequence[int], axis: int, labels: tuple[str, ...]) -> Split | None:
    size = int(shape[axis])
    parts = len(labels)
    if size % parts:
        return None
    return Split(axis, labels, (size // parts,) * parts)


def _qkv_split(module: str, shape: Sequence[int], info: ModelInfo) -> tuple[Split | None, bool]:
    """(split, transposed) of a fused q/k/v projection; (None, …) when its layout is unknown."""
    labels = ("q", "k", "v")
    rows, cols = int(shape[0]), int(shape[1])
    if module == "c_attn" and cols == 3 * rows and (info.model_type in _CONV1D_TYPES or info.model_type is None):
        return _third_split(shape, 1, labels), True  # GPT-2 Conv1D: (in, out), columns q|k|v
    if module == "query_key_value":
        if info.model_type in _HEAD_INTERLEAVED_TYPES and info.num_heads and rows % (3 * info.num_heads) == 0:
            head = rows // (3 * info.num_heads)
            return Split(0, labels, (head, head, head), info.num_heads), False
        return None, False  # per-head (NeoX/Bloom) or grouped (Falcon) layout: not cut blind
    sizes = info.attention_sizes()
    if sizes is not None and rows == sizes[0] + 2 * sizes[1] and sizes[0] != sizes[1]:
        return Split(0, labels, (sizes[0], sizes[1], sizes[1])), False  # GQA: [q; k; v]
    if rows == 3 * cols:
        return _third_split(shape, 0, labels), False
    return None, False


def _by_name(comps: list[str], shape: Sequence[int], info: ModelInfo, in_block: bool,
             expert_stack: bool) -> tuple[str, str, Split | None, bool] | None:
    """(group, role, split, transposed) from the name's last components, or None."""
    module = comps[-1].lower()
    parent = comps[-2].lower() if len(comps) >= 2 else ""
    grand = comps[-3].lower() if len(comps) >= 3 else ""
    in_attn = parent in _ATTN or grand in _ATTN
    two_d = len(shape) == 2
    if module in _TOK:
        return "embedding", "tok_embed", None, False
    if module in _POS:
        return "embedding", "pos_embed", None, False
    if module == "token_type_embeddings":
        return "embedding", "type_embed", None, False
    if module in _TOKENS:
        return "embedding", "token", None, False
    if module in ("patch_embedding", "patch_embed") or (module == "proj" and parent in ("patch_embed", "patch_embedding")):
        return "embedding", "patch_embed", None, False
    if module in _READOUT or (module in _READOUT_TOP and not in_block):
        return "readout", "readout", None, False
    if module == "router" or parent == "router" or (module == "gate" and parent in _MOE):
        return "readout", "router", None, False
    if module in _Q or (module == "q" and in_attn):
        return "hidden", "q", None, False
    if module in _K or (module == "k" and in_attn):
        return "hidden", "k", None, False
    if module in _V or (module == "v" and in_attn):
        return "hidden", "v", None, False
    if module in _QKV and two_d:
        split, transposed = _qkv_split(module, shape, info)
        return "hidden", "qkv", split, transposed
    if module in _QKV:
        return "hidden", "qkv", None, False
    conv1d = info.model_type in _CONV1D_TYPES or info.model_type is None
    if module in _O or (module == "o" and in_attn) or (module == "out_proj" and in_attn):
        return "hidden", "o", None, False
    if module in ("dense", "proj", "c_proj", "wo") and (parent in _ATTN or (parent == "output" and grand in _ATTN)):
        return "hidden", "o", None, module == "c_proj" and conv1d
    if module == "dense" and parent == "intermediate":
        return "hidden", "up", None, False
    if module == "dense" and parent == "output":
        return "hidden", "down", None, False
    if module == "dense" and parent in ("pooler", "transform"):
        return "hidden", parent, None, False
    if module in ("c_proj", "wo", "ff_out") and in_block:
        return "hidden", "down", None, module == "c_proj" and conv1d
    qwen = info.model_type == "qwen"
    if module in ("w1", "w2", "w3"):  # Meta LLaMA / Mixtral: w1 gate, w3 up, w2 down; Qwen-1: w1 up, w2 gate
        role = {"w1": "up" if qwen else "gate", "w2": "gate" if qwen else "down", "w3": "up"}[module]
        return "hidden", role, None, False
    if module in _UP:
        return "hidden", "up", None, module == "c_fc" and conv1d
    if module in _GATE:
        return "hidden", "gate", None, False
    if module in _DOWN:
        return "hidden", "down", None, False
    if module == "gate_up_proj":
        if two_d and not expert_stack:
            return "hidden", "gate_up", _third_split(shape, 0, ("gate", "up")), False  # Phi-3
        return "hidden", "gate_up", None, False
    if module == "ff_proj" and two_d:  # OLMo-1: rows [up; gate] (x, gate = chunk(2))
        return "hidden", "up_gate", _third_split(shape, 0, ("up", "gate")), False
    if module.startswith("conv") or parent.startswith("conv"):
        return "hidden", "conv", None, False
    return None


def _by_shape(name: str, shape2: tuple[int, int], info: ModelInfo) -> tuple[str, str] | None:
    """The shape heuristic for names no rule knows; None when it cannot tell.

    With width d (config.json, or :meth:`ModelInfo.infer`) and vocabulary V: an axis is
    width-like if it lies in [max(d/16, 16), 64·d] and is not V. Stored as (out, in) (torch
    ``Linear``): a V axis → embedding (or readout if the name says head/out/logits); both
    axes width-like → hidden; only the input axis → readout (fan-in d, like an output
    layer); only the output axis → embedding (fan-out d, like an input projection).
    """
    d, vocab = info.width, info.vocab_size
    if d is None:
        return None
    low = name.lower()
    if vocab is not None and vocab in shape2:
        if any(word in low for word in ("head", "out", "logit", "decoder", "classifier")):
            return "readout", "readout"
        return "embedding", "tok_embed"

    def width_like(x: int) -> bool:
        return max(d / 16, 16) <= x <= 64 * d and x != vocab

    out_w, in_w = width_like(shape2[0]), width_like(shape2[1])
    if out_w and in_w:
        return "hidden", "other"
    if in_w:
        return "readout", "other"
    if out_w:
        return "embedding", "other"
    return None


@dataclass(frozen=True)
class Grouper:
    """Assigns each tensor a group and a sublayer role.

    Order: (1) user ``GROUP=REGEX`` patterns on the full name, first match wins (the role
    still comes from the name when known); (2) a tensor with at most one non-size-1 axis is
    ``vector`` whatever its name — it has no σ_top; (3) the built-in names of the families
    people train: LLaMA/Mistral/Qwen/Gemma/OLMo-2 (``model.layers.N.self_attn.q_proj``,
    ``mlp.gate_proj``, ``lm_head``), GPT-2 (``transformer.h.N.attn.c_attn``, ``Conv1D``
    stored (in, out), q|k|v fused in columns), GPT-NeoX/Pythia (``query_key_value`` per head,
    ``embed_out``), OLMo-1 (``att_proj``, ``ff_proj``, ``ff_out``), Phi (``dense``, ``fc1``,
    Phi-3 ``qkv_proj``/``gate_up_proj``), BERT (``attention.self.query``,
    ``intermediate.dense``, ``output.dense``), timm ViT (``blocks.N.attn.qkv``, ``mlp.fc1``,
    ``patch_embed.proj``, ``head``), Meta LLaMA (``wq``, ``w1``…), T5, MoE experts and
    routers; (4) the shape heuristic (:func:`_by_shape`) with a note; (5) ``unmatched``.
    Matching is by name components (split on "."), linear in the name's length; user
    patterns run on a linear-time matcher (``hpscale.core.namepattern``).
    """

    user: tuple[tuple[str, NamePattern], ...] = ()
    model: ModelInfo = field(default_factory=ModelInfo)

    @classmethod
    def from_specs(cls, specs: Iterable[str], option: str = "--group", model: ModelInfo | None = None) -> Grouper:
        """Parse ``GROUP=REGEX`` strings; raise InputError (one line) on a bad one."""
        user: list[tuple[str, NamePattern]] = []
        for spec in specs:
            group, sep, pattern = spec.partition("=")
            group = group.strip()
            if not sep or not pattern:
                raise InputError(f"{option}: {spec!r}: expected GROUP=REGEX")
            if group not in GROUPS:
                raise InputError(f"{option}: group {group!r}: allowed {', '.join(GROUPS)}")
            try:
                user.append((group, NamePattern(pattern)))
            except ValueError as exc:
                raise InputError(f"{option}: regex {pattern!r}: {exc}") from None
        return cls(user=tuple(user), model=model or ModelInfo())

    def with_model(self, model: ModelInfo) -> Grouper:
        return replace(self, model=model)

    def for_tensors(self, shapes: Iterable[Sequence[int]], model: ModelInfo | None = None) -> Grouper:
        """This grouper with ``model`` (e.g. from config.json), its missing width inferred
        from ``shapes`` (:meth:`ModelInfo.infer`)."""
        info = model or self.model
        if info.width is None:
            inferred = ModelInfo.infer(shapes)
            info = replace(info, width=inferred.width,
                           source=info.source if info.source != "none" else inferred.source)
        return replace(self, model=info)

    def group_of(self, name: str, shape: Sequence[int]) -> str:
        """The group of one tensor (see :meth:`place` for the rest)."""
        return self.place(name, shape).group

    def place(self, name: str, shape: Sequence[int]) -> Placement:
        """Group, role, layer and matrix layout of one tensor."""
        if len(name) > MAX_NAME_CHARS:
            raise InputError(f"tensor name of {len(name)} characters: at most {MAX_NAME_CHARS} accepted")
        comps, numbers = _components(name)
        layer = numbers[0][1] if numbers else None
        stack = ".".join(comps[:numbers[0][0]]) if numbers else None
        indices = tuple(n for _, n in numbers)
        lowered = [c.lower() for c in comps]
        experts_at = lowered.index("experts") if "experts" in lowered else -1
        expert_stack = experts_at >= 0 and len(shape) == 3 and not any(i > experts_at for i, _ in numbers)
        in_block = layer is not None
        user_group = next((g for g, pat in self.user if pat.search(name)), None)
        last = name.rsplit(".", 1)[-1]
        if (as_matrix(shape) is None and not expert_stack) or last.endswith("bias"):
            # a bias is never a matrix (GPT-2 also stores its causal mask as ``attn.bias``)
            return Placement(user_group or "vector", "vector", layer, stack, indices,
                             grouped_by="pattern" if user_group else "vector")
        found = _by_name(comps, shape, self.model, in_block, expert_stack)
        if found is not None:
            group, role, split, transposed = found
            grouped_by = "name"
        else:
            split, transposed = None, False
            shape2 = tuple(int(d) for d in shape[1:]) if expert_stack else as_matrix(shape)
            guess = _by_shape(name, as_matrix(shape2) or (1, 1), self.model)  # type: ignore[arg-type]
            group, role = guess if guess is not None else (UNMATCHED, "other")
            grouped_by = "shape" if guess is not None else "none"
            if role == "other":
                role = comps[-1] if not comps[-1].isdigit() else "other"
        if experts_at >= 0 and group == "hidden":
            role = f"{role} (experts)"
        if user_group is not None:
            group, grouped_by = user_group, "pattern"
        return Placement(group, role, layer, stack, indices, split, expert_stack, transposed, grouped_by)


def tensor_matrices(array: Any, placement: Placement) -> list[tuple[str | None, int | None, Any]]:
    """The matrices one tensor holds: [(part label or None, expert index or None, 2-D array)].

    Stacked experts (axis 0) give one matrix per expert; a ``Split`` cuts a fused
    projection (row blocks are views; column blocks and per-head parts are copies, at most
    the part's size). Works on numpy arrays and torch tensors.
    """
    if placement.experts:
        out: list[tuple[str | None, int | None, Any]] = []
        for e in range(int(array.shape[0])):
            for label, _, m in tensor_matrices(array[e], replace(placement, experts=False)):
                out.append((label, e, m))
        return out
    split = placement.split
    shape2 = as_matrix(tuple(int(d) for d in array.shape))
    if shape2 is None:
        return []
    if split is None or len(array.shape) != 2:
        return [(None, None, array.reshape(shape2))]
    total = sum(split.sizes)
    if int(array.shape[split.axis]) != total * split.heads:
        return [(None, None, array.reshape(shape2))]  # layout does not fit: keep it whole
    parts: list[tuple[str | None, int | None, Any]] = []
    offset = 0
    for label, size in zip(split.labels, split.sizes, strict=True):
        if split.heads > 1:
            cols = int(array.shape[1])
            view = array.reshape(split.heads, total, cols)[:, offset:offset + size, :]
            part = view.reshape(split.heads * size, cols)
        elif split.axis == 0:
            part = array[offset:offset + size]
        else:
            part = array[:, offset:offset + size]
            part = part.contiguous() if _is_torch(part) else np.ascontiguousarray(part)
        parts.append((label, None, part))
        offset += size
    return parts


# ----------------------------------------------------------------------------------------
# Records and summaries
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorRecord:
    """One analysed matrix (or one vector, listed without statistics).

    ``name`` is what tables show: the tensor name, plus ``[q]`` for a part of a fused tensor
    and ``[3]`` for expert 3 of a stacked one. ``tensor`` is the stored name, ``shape`` the
    stored shape, ``matrix_shape`` the analysed (out, in) matrix (Conv1D transposed back).
    ``stats`` is None for vectors. The fields after ``stats`` were added with Hugging Face
    directories; they default so that older callers keep working.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    group: str
    stats: MatrixStats | None = None
    tensor: str = ""
    role: str = ""
    part: str | None = None
    expert: int | None = None
    layer: int | None = None
    stack: str | None = None
    indices: tuple[int, ...] = ()
    matrix_shape: tuple[int, int] | None = None
    grouped_by: str = "name"
    tied: bool = False

    @property
    def sigma(self) -> float | None:
        return self.stats.sigma_max if self.stats is not None else None

    def to_json(self) -> dict[str, object]:
        st = self.stats
        return {
            "name": self.name,
            "tensor": self.tensor or self.name,
            "part": self.part,
            "expert": self.expert,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "group": self.group,
            "role": self.role,
            "layer": self.layer,
            "grouped_by": self.grouped_by,
            "tied": self.tied,
            "matrix_shape": list(self.matrix_shape) if self.matrix_shape else None,
            "sigma_max": _finite_or_none(st.sigma_max) if st else None,
            "frobenius": _finite_or_none(st.frobenius) if st else None,
            "stable_rank": _finite_or_none(st.stable_rank) if st else None,
        }


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def records_for(name: str, shape: Sequence[int], dtype: str, placement: Placement,
                stats: Sequence[tuple[str | None, int | None, tuple[int, int], MatrixStats | None]]) -> list[TensorRecord]:
    """The records of one tensor: one per matrix in ``stats`` (label, expert, shape, stats),
    or one vector record when ``stats`` is empty."""
    base = dict(shape=tuple(int(d) for d in shape), dtype=dtype, group=placement.group, tensor=name,
                layer=placement.layer, stack=placement.stack, indices=placement.indices,
                grouped_by=placement.grouped_by, tied=placement.tied)
    if not stats:
        return [TensorRecord(name=name, role=placement.role, **base)]  # type: ignore[arg-type]
    out = []
    for label, expert, shape2, st in stats:
        suffix = ",".join(str(x) for x in (expert, label) if x is not None)
        role = label if label is not None else placement.role
        if expert is not None and placement.group == "hidden" and "(experts)" not in role:
            role = f"{role} (experts)"
        mshape = (shape2[1], shape2[0]) if placement.transposed else shape2
        indices = placement.indices + ((expert,) if expert is not None else ())
        out.append(TensorRecord(name=f"{name}[{suffix}]" if suffix else name, stats=st, role=role,
                                part=label, expert=expert, matrix_shape=mshape,
                                **{**base, "indices": indices}))  # type: ignore[arg-type]
    return out


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def group_summary(records: Iterable[TensorRecord]) -> dict[str, dict[str, object]]:
    """Per group: matrices (records), those with a σ, and the median σ_top."""
    out: dict[str, dict[str, object]] = {}
    by: dict[str, list[TensorRecord]] = {}
    for r in records:
        by.setdefault(r.group, []).append(r)
    for group in (*GROUPS, UNMATCHED):
        rs = by.get(group, [])
        if not rs:
            continue
        sig = [r.sigma for r in rs if r.sigma is not None]
        out[group] = {
            "tensors": len(rs),
            "with_sigma": len(sig),
            "sigma_max_median": _median(sig) if sig else None,
        }
    return out


def layer_role(name: str) -> str:
    """Name with every integer component replaced by ``*``: ``transformer.h.3.attn.c_attn.weight``
    → ``transformer.h.*.attn.c_attn.weight``. Linear in the name's length."""
    return ".".join("*" if c.isdigit() else c for c in name.split("."))


# ----------------------------------------------------------------------------------------
# Pairing and compare
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A proxy matrix and the target matrix at the same role and relative depth."""

    name: str  # the role key, e.g. model.layers.*.self_attn.q_proj.weight
    group: str
    role: str
    proxy: str
    target: str
    sigma_proxy: float
    sigma_target: float
    proxy_shape: tuple[int, int]
    target_shape: tuple[int, int]
    log_ratio: float

    @property
    def ratio(self) -> float | None:
        """σ_target/σ_proxy, None when it is outside the float range."""
        return math.exp(self.log_ratio) if abs(self.log_ratio) < 700 else None


_PAIRED_GROUPS = ("embedding", "hidden", "readout")


def _key(r: TensorRecord) -> str:
    return layer_role(r.tensor or r.name) + (f"[{r.part}]" if r.part else "")


def _depths(records: Iterable[TensorRecord]) -> dict[str | None, int]:
    depth: dict[str | None, int] = {}
    for r in records:
        if r.layer is not None:
            depth[r.stack] = max(depth.get(r.stack, 0), r.layer + 1)
    return depth


def pair_records(
    proxy: Sequence[TensorRecord], target: Sequence[TensorRecord]
) -> tuple[str, list[Pair], list[str]]:
    """Match proxy and target matrices (groups embedding/hidden/readout, finite σ > 0).

    Records are keyed by their name with integer components replaced by ``*`` (the role,
    :func:`layer_role`) and the fused part. Within a key, layer i of a stack of depth L is
    paired with the layer of the other checkpoint at the same relative depth: each layer j
    of the deeper stack (depth L′) with layer ⌊(j + ½)·L/L′⌋ of the shallower one, so equal
    depths pair layer by layer. Further indices (experts) pair by equality; when the two
    checkpoints have different sets of them (a different expert count), each side's median
    over them stands for the layer. Returns (pairing, pairs, role keys present in only one
    checkpoint); pairing is "name" when every pair has the same name on both sides, else
    "relative depth".
    """

    def usable(rs: Sequence[TensorRecord]) -> dict[str, list[TensorRecord]]:
        out: dict[str, list[TensorRecord]] = {}
        for r in rs:
            if r.group in _PAIRED_GROUPS and r.sigma is not None and r.sigma > 0.0 and math.isfinite(r.sigma):
                out.setdefault(_key(r), []).append(r)
        return out

    p, t = usable(proxy), usable(target)
    depth_p, depth_t = _depths(proxy), _depths(target)
    pairs: list[Pair] = []
    for key in sorted(set(p) & set(t)):
        pairs += _pair_key(key, p[key], t[key], depth_p, depth_t)
    only = sorted(set(p) ^ set(t))
    same = all(pr.proxy == pr.target for pr in pairs)
    return ("name" if same else "relative depth"), pairs, only


def _pair_key(key: str, ps: list[TensorRecord], ts: list[TensorRecord],
              depth_p: Mapping[str | None, int], depth_t: Mapping[str | None, int]) -> list[Pair]:
    def index(rs: list[TensorRecord]) -> dict[int | None, dict[tuple[int, ...], TensorRecord]]:
        out: dict[int | None, dict[tuple[int, ...], TensorRecord]] = {}
        for r in rs:
            out.setdefault(r.layer, {})[r.indices[1:]] = r
        return out

    pi, ti = index(ps), index(ts)
    lp, lt = depth_p.get(ps[0].stack, 1), depth_t.get(ts[0].stack, 1)
    matches: list[tuple[int | None, int | None]] = []
    if None in pi and None in ti:
        matches.append((None, None))
    if lt >= lp:
        matches += [(int((j + 0.5) * lp / lt), j) for j in sorted(k for k in ti if k is not None)]
    else:
        matches += [(i, int((i + 0.5) * lt / lp)) for i in sorted(k for k in pi if k is not None)]
    pairs = []
    for i, j in matches:
        a, b = pi.get(i), ti.get(j)
        if not a or not b:
            continue
        if set(a) == set(b):
            for sub in sorted(a, key=lambda s: s):
                pairs.append(_make_pair(key, a[sub], b[sub], a[sub].sigma, b[sub].sigma))  # type: ignore[arg-type]
        else:  # different expert sets: the per-layer medians stand for the layer
            ra, rb = next(iter(a.values())), next(iter(b.values()))
            pairs.append(_make_pair(key, ra, rb, _median([r.sigma for r in a.values()]),  # type: ignore[misc]
                                    _median([r.sigma for r in b.values()])))  # type: ignore[misc]
    return pairs


def _make_pair(key: str, a: TensorRecord, b: TensorRecord, sa: float, sb: float) -> Pair:
    return Pair(key, a.group, a.role, a.name, b.name, sa, sb, a.matrix_shape or (1, 1),
                b.matrix_shape or (1, 1), math.log(sb) - math.log(sa))


def infer_width_ratio(pairs: Sequence[Pair]) -> tuple[float | None, str | None]:
    """Width ratio m from the shapes of paired hidden matrices.

    Assumption: both axes of a hidden matrix scale with the width (d×d, d×3d, d×4d, …), so
    per pair m = √(r₀·r₁) with rᵢ the target/proxy ratio of axis i; the result is the median
    over hidden pairs. Returns (m, warning or None); m is None without hidden pairs.
    """
    ms = [
        math.sqrt((pr.target_shape[0] / pr.proxy_shape[0]) * (pr.target_shape[1] / pr.proxy_shape[1]))
        for pr in pairs
        if pr.group == "hidden"
    ]
    if not ms:
        return None, "no paired hidden matrices: cannot infer the width ratio from shapes"
    m = _median(ms)
    if max(ms) > m * 1.01 or min(ms) < m / 1.01:
        return m, (
            f"hidden shape ratios disagree (from {min(ms):.3g} to {max(ms):.3g}); "
            f"using their median m = {m:.4g}"
        )
    return m, None


@dataclass(frozen=True)
class Verdict:
    """Which rule a measured median ratio fits (log-space distance ≤ log(1+tol))."""

    rule: str | None
    closest: str | None
    measured: float | None
    tolerance: float
    also_within: tuple[str, ...]
    distinguishable: bool
    message: str

    @property
    def short(self) -> str:
        """One word for a table cell: the rule, "none", "?" (indistinguishable) or "—"."""
        if self.measured is None or self.closest is None:
            return "—"
        if not self.distinguishable:
            return "?"
        return self.rule if self.rule is not None else "none"

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "closest": self.closest,
            "consistent": self.rule is not None,
            "measured_hidden_median_ratio": self.measured,
            "tolerance": self.tolerance,
            "also_within_tolerance": list(self.also_within),
            "rules_distinguishable": self.distinguishable,
            "message": self.message,
        }


def verdict(measured: float | None, predicted: Mapping[str, float], tolerance: float,
            subject: str = "hidden median ratio") -> Verdict:
    """Closest rule in log space; "consistent" when |log(measured/predicted)| ≤ log(1+tol).

    If several rules fall inside the tolerance, the closest is named and the others listed.
    If the predictions are within 2·tolerance of each other (m close to 1: m^±0.25 ≈ 1, e.g.
    m < 1.1⁴ ≈ 1.46 at 10 %), no rule is named: such a pair cannot tell the rules apart.
    """
    predicted = {rule: p for rule, p in predicted.items() if p is not None and p > 0 and math.isfinite(p)}
    if measured is None or not predicted or not measured > 0:
        return Verdict(None, None, measured, tolerance, (), False,
                       f"no verdict: no {subject} with a finite σ_top")
    band = math.log1p(tolerance)
    dist = {rule: abs(math.log(measured) - math.log(p)) for rule, p in predicted.items()}
    closest = min(dist, key=dist.__getitem__)
    within = [r for r in dist if dist[r] <= band]
    others = tuple(r for r in within if r != closest)
    logs = [math.log(p) for p in predicted.values()]
    distinguishable = max(logs) - min(logs) > 2 * band
    if not distinguishable:
        msg = (
            f"no verdict: the rules' predictions ({', '.join(f'{p:.4g}' for p in predicted.values())}) "
            f"are within twice the tolerance of each other at this width ratio; {subject} "
            f"{measured:.4g} is closest to {closest}"
        )
        return Verdict(None, closest, measured, tolerance, others, False, msg)
    if not within:
        msg = (
            f"none of the three rules fits: {subject} {measured:.4g}; closest is "
            f"{closest} ({predicted[closest]:.4g}), off by more than {tolerance:.0%}"
        )
        return Verdict(None, closest, measured, tolerance, (), distinguishable, msg)
    msg = (
        f"consistent with the {closest} rule: {subject} {measured:.4g} vs "
        f"predicted {predicted[closest]:.4g} (tolerance {tolerance:.0%})"
    )
    if others:
        msg += f"; also within tolerance: {', '.join(others)}"
    return Verdict(closest, closest, measured, tolerance, others, distinguishable, msg)


_ROLE_ORDER = ("q", "k", "v", "qkv", "o", "up", "gate", "gate_up", "up_gate", "down")


@dataclass(frozen=True)
class RatioRow:
    """One row of the compare table: a group, or one sublayer role inside a group."""

    group: str
    role: str | None  # None: the whole group
    pairs: int
    median_ratio: float | None
    verdict: Verdict | None  # hidden rows only

    def to_json(self) -> dict[str, object]:
        return {
            "group": self.group,
            "role": self.role,
            "pairs": self.pairs,
            "median_ratio": self.median_ratio,
            "fits": self.verdict.rule if self.verdict else None,
            "closest": self.verdict.closest if self.verdict else None,
        }


def _log_median(pairs: Sequence[Pair]) -> float | None:
    if not pairs:
        return None
    value = _median([p.log_ratio for p in pairs])
    return math.exp(value) if abs(value) < 700 else None


def ratio_rows(pairs: Sequence[Pair], predicted: Mapping[str, float], tolerance: float) -> list[RatioRow]:
    """Per group, then per sublayer role within the hidden group (q/k/v/o, up/gate/down, …,
    experts after dense), the median σ ratio (median of log ratios, so no ratio overflows)
    and, for hidden rows, the verdict against ``predicted``."""
    rows: list[RatioRow] = []
    for group in _PAIRED_GROUPS:
        gp = [p for p in pairs if p.group == group]
        if not gp:
            continue
        med = _log_median(gp)
        v = verdict(med, predicted, tolerance) if group == "hidden" else None
        rows.append(RatioRow(group, None, len(gp), med, v))
        if group != "hidden":
            continue
        roles = sorted({p.role for p in gp}, key=lambda r: (
            "(experts)" in r, _ROLE_ORDER.index(r.split(" ")[0]) if r.split(" ")[0] in _ROLE_ORDER else 99, r))
        if len(roles) < 2:
            continue
        for role in roles:
            rp = [p for p in gp if p.role == role]
            rmed = _log_median(rp)
            rows.append(RatioRow(group, role, len(rp), rmed,
                                 verdict(rmed, predicted, tolerance, f"{role} median ratio")))
    return rows


@dataclass(frozen=True)
class Comparison:
    """Proxy vs target: pairs, per-group and per-role median ratios, predictions, verdict."""

    pairing: str
    pairs: tuple[Pair, ...]
    unpaired: tuple[str, ...]
    rows: tuple[RatioRow, ...]
    width_ratio: float | None
    width_ratio_source: str
    lr_ratio: float | None
    lr_ratio_source: str
    predicted: dict[str, float]
    prediction_source: str
    configured: float | None
    verdict: Verdict
    warnings: tuple[str, ...]
    depths: tuple[int | None, int | None] = (None, None)

    @property
    def groups(self) -> dict[str, dict[str, object]]:
        """Per group: pairs and median ratio (the group rows of :attr:`rows`)."""
        return {r.group: {"pairs": r.pairs, "median_ratio": r.median_ratio} for r in self.rows if r.role is None}

    def to_json(self) -> dict[str, object]:
        return {
            "pairing": self.pairing,
            "depth_proxy": self.depths[0],
            "depth_target": self.depths[1],
            "width_ratio": self.width_ratio,
            "width_ratio_source": self.width_ratio_source,
            "hidden_lr_ratio": self.lr_ratio,
            "hidden_lr_ratio_source": self.lr_ratio_source,
            "predicted_hidden_ratio": self.predicted,
            "prediction_source": self.prediction_source,
            "configured_hidden_ratio": self.configured,
            "groups": self.groups,
            "rows": [r.to_json() for r in self.rows],
            "verdict": self.verdict.to_json(),
            "pairs": [
                {
                    "name": p.name,
                    "group": p.group,
                    "role": p.role,
                    "proxy": p.proxy,
                    "target": p.target,
                    "sigma_proxy": p.sigma_proxy,
                    "sigma_target": p.sigma_target,
                    "ratio": p.ratio,
                    "proxy_shape": list(p.proxy_shape),
                    "target_shape": list(p.target_shape),
                }
                for p in self.pairs
            ],
            "unpaired": list(self.unpaired),
        }


@dataclass(frozen=True)
class Prediction:
    """What the composition behind ``transfer`` predicts for the hidden group at ratio m:
    σ ratio per weight-decay width rule, the hidden η ratio, and where it came from."""

    sigma_ratios: dict[str, float]
    lr_ratio: float | None
    source: str


def compare(
    proxy: Sequence[TensorRecord],
    target: Sequence[TensorRecord],
    *,
    predict: Callable[[float], Prediction],
    width_ratio: float | None = None,
    width_source: str = "the configs' model.width",
    configured: Callable[[float], float | None] | None = None,
    tolerance: float = 0.10,
) -> Comparison:
    """Compare two scans and name the weight-decay width rule the pair is consistent with.

    ``width_ratio`` (m) comes from run configs or config.json when given; otherwise it is
    inferred from the hidden shapes (:func:`infer_width_ratio`). ``predict(m)`` returns the
    rules' predicted hidden σ ratios — the caller builds it from ``hpscale.core.compose``
    (one source of truth with ``transfer``). ``configured(m)`` is the ratio the two run
    configs' own η and λ predict, if known. The verdict uses the hidden group's median
    ratio, because the three rules differ only in the hidden λ; per-role rows get their
    own verdicts and embedding/readout medians are reported for inspection.
    """
    pairing, pairs, unpaired = pair_records(proxy, target)
    warnings: list[str] = []
    if unpaired:
        warnings.append(
            f"{len(unpaired)} matrix role(s) found in only one checkpoint, not compared: "
            + ", ".join(unpaired[:5])
            + (f" and {len(unpaired) - 5} more" if len(unpaired) > 5 else "")
        )
    overflow = [p.name for p in pairs if p.ratio is None]
    if overflow:
        warnings.append(f"{len(overflow)} σ ratio(s) outside the float range (reported as null): "
                        + ", ".join(overflow[:3]))
    inferred, note = infer_width_ratio(pairs)
    if width_ratio is None:
        m, m_source = inferred, "hidden matrix shapes, assuming both axes scale with width"
        if note and inferred is not None:
            warnings.append(note)
    else:
        m, m_source = width_ratio, width_source
        if inferred is not None and abs(math.log(inferred / width_ratio)) > math.log(1.01):
            warnings.append(
                f"{width_source} gives width ratio {width_ratio:.4g} but the hidden matrix shapes "
                f"give {inferred:.4g}; using {width_source}"
            )
    prediction = predict(m) if m is not None else Prediction({}, None, "none (no width ratio)")
    rows = ratio_rows(pairs, prediction.sigma_ratios, tolerance)
    hidden = next((r for r in rows if r.group == "hidden" and r.role is None), None)
    v = hidden.verdict if hidden and hidden.verdict else verdict(None, prediction.sigma_ratios, tolerance)
    conf = configured(m) if configured is not None and m is not None else None
    depths = (max(_depths(proxy).values(), default=None), max(_depths(target).values(), default=None))
    return Comparison(
        pairing, tuple(pairs), tuple(unpaired), tuple(rows), m,
        m_source if m is not None else "unknown", prediction.lr_ratio, prediction.source,
        prediction.sigma_ratios, prediction.source, conf, v, tuple(warnings), depths,
    )
