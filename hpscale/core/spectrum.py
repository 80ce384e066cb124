"""Spectral diagnostics of weight matrices: σ_top, grouping, proxy/target comparison.

Pure math on numpy arrays: no file access, no printing. Readers live in
``hpscale.checkpoints``; the CLI lives in ``hpscale.commands.spectrum``.

Why σ_top: Fan et al. (2025, arXiv 2510.15262) show that under AdamW the top singular value
of a trained weight matrix settles at

    σ_top ≈ C · √(η/λ) · d^0.75

with η the learning rate, λ the (PyTorch-style, lr-coupled) weight decay and d the width.
So the ratio target/proxy of σ_top is

    σ_t / σ_p = √((η_t/λ_t) / (η_p/λ_p)) · m^0.75,      m = d_t / d_p,

and, with µP's hidden η ∝ 1/m, the three weight-decay width rules predict
λ ∝ m ("timescale") → m^−0.25, λ ∝ √m ("sqrt") → 1, λ ∝ 1 ("constant") → m^0.25.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

GROUPS: tuple[str, ...] = ("embedding", "hidden", "readout", "vector")
"""Groups a user may assign. ``unmatched`` is reported too but is never assignable."""

UNMATCHED = "unmatched"

# Rule name → exponent e of the hidden weight-decay width rule λ_t = λ_p · m^e.
WD_RULE_EXPONENTS: dict[str, float] = {"timescale": 1.0, "sqrt": 0.5, "constant": 0.0}


# ----------------------------------------------------------------------------------------
# σ_top
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigmaTop:
    """Result of :func:`top_singular_value`.

    ``residual`` is ‖G·x − θ·x‖/θ for the returned Ritz pair (θ = σ², G the Gram matrix);
    0.0 for the direct SVD path.
    """

    sigma: float
    residual: float
    matvecs: int
    converged: bool
    method: str


def _direct_sigma(a: np.ndarray) -> SigmaTop:
    s = np.linalg.svd(a.astype(np.float64, copy=False), compute_uv=False)
    return SigmaTop(float(s[0]) if s.size else 0.0, 0.0, 0, True, "svd")


def top_singular_value(
    w: np.ndarray,
    *,
    tol: float = 1e-3,
    block: int = 1,
    max_dim: int = 300,
    seed: int = 0,
    method: str = "auto",
) -> SigmaTop:
    """Largest singular value σ_top = ‖W‖₂ of a 2-D array, without a full SVD.

    Method: Lanczos with full reorthogonalisation (block Lanczos when ``block`` > 1; Golub &
    Van Loan, *Matrix Computations*, 4th ed., §10.1 and §10.3) on the Gram matrix of the
    smaller side, G = W·Wᵀ if W has fewer rows than columns, else G = Wᵀ·W. G is never
    formed: it is applied as two matrix–vector products, reading W twice per step. After
    every step the Rayleigh–Ritz procedure on the orthonormal Krylov basis V gives the top
    Ritz pair (θ, x) of Vᵀ·G·V, and σ_top = √θ.

    Stopping rule: stop when the relative residual ‖G·x − θ·x‖ / θ ≤ ``tol``. By the
    Hermitian residual bound (Golub & Van Loan, Thm 8.1.13) an eigenvalue of G then lies
    within tol·θ of θ, i.e. a singular value within ≈ tol/2 of √θ; θ is also a lower bound of
    λ_max(G) (Cauchy interlacing). With a random Gaussian start the top Ritz value converges
    to λ_max without depending on the spectral gap (Kuczyński & Woźniakowski 1992; Musco &
    Musco 2015, "Randomized block Krylov methods for stronger and faster approximate SVD"),
    so near-flat tops such as Gaussian matrices converge too. The default tol = 1e-3 bounds
    the σ error at ≈ 0.05 %, ten times inside the 0.5 % target; in practice the Ritz value
    is far more accurate than the residual (error ∝ residual²). The iteration also stops at
    ``max_dim`` basis vectors (``converged=False``; σ is then still a lower bound).

    ``block`` defaults to 1 because BLAS matrix–vector products stream W at memory
    bandwidth, while a product with a thin block of b ≥ 2 vectors costs 2–4× more per
    vector (measured with OpenBLAS on 2048×8192 float32; see benchmarks/bench_spectrum.py).

    Products run in W's own float32/float64 (a float32 product has relative error ~1e-6,
    negligible here); the basis, projected matrix and residual are float64. Matrices with a
    side ≤ 32 or at most 65 536 entries go to a direct SVD instead (faster there).

    Args:
        w: 2-D float array (float16 is promoted to float32).
        tol: relative residual at which to stop.
        block: block size b.
        max_dim: largest Krylov basis size.
        seed: seed of the random start block (results are deterministic).
        method: "auto", "krylov" (always iterate) or "svd" (always the direct SVD).
    """
    if w.ndim != 2:
        raise ValueError(f"top_singular_value needs a 2-D array, got shape {w.shape}")
    if method not in ("auto", "krylov", "svd"):
        raise ValueError(f"method: {method!r}: allowed auto, krylov, svd")
    a = w
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32)
    m, n = a.shape
    k = min(m, n)
    if k == 0:
        return SigmaTop(0.0, 0.0, 0, True, "svd")
    if method == "svd" or (method == "auto" and (k <= 32 or m * n <= 65536)):
        return _direct_sigma(a)

    wide = m <= n  # G = A·Aᵀ (size m) if wide, else G = Aᵀ·A (size n); k = min(m, n)
    cap = max(1, min(max_dim, k))
    b = max(1, min(block, cap))

    def apply_gram(q: np.ndarray) -> np.ndarray:
        q32 = np.ascontiguousarray(q, dtype=a.dtype)
        out = a @ (a.T @ q32) if wide else a.T @ (a @ q32)
        return out.astype(np.float64, copy=False)

    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((k, b)))
    basis = np.empty((k, cap + b))  # V, orthonormal columns
    images = np.empty((k, cap + b))  # G·V
    used = 0
    theta = 0.0
    residual = math.inf
    matvecs = 0
    converged = False
    while True:
        gq = apply_gram(q)
        nb = q.shape[1]
        matvecs += nb
        basis[:, used : used + nb] = q
        images[:, used : used + nb] = gq
        used += nb
        v, gv = basis[:, :used], images[:, :used]
        h = v.T @ gv
        h = 0.5 * (h + h.T)
        evals, evecs = np.linalg.eigh(h)
        theta = float(evals[-1])
        s = evecs[:, -1]
        if not theta > 0.0:  # W == 0 (or numerically so), or non-finite entries
            if math.isnan(theta):
                return SigmaTop(math.nan, math.nan, matvecs, False, "krylov")
            return SigmaTop(0.0, 0.0, matvecs, True, "krylov")
        r = gv @ s - theta * (v @ s)
        residual = float(np.linalg.norm(r)) / theta
        if residual <= tol:
            converged = True
            break
        if used >= cap:
            break
        # Next block: G·q orthogonalised against the whole basis, twice ("twice is enough",
        # Giraud, Langou & Rozložník 2005), then orthonormalised.
        z = gq - v @ (v.T @ gq)
        z -= v @ (v.T @ z)
        z = z[:, : cap - used]
        q, rr = np.linalg.qr(z)
        keep = np.abs(np.diag(rr)) > 1e-10 * math.sqrt(theta)
        if not keep.any():  # the basis spans an invariant subspace: θ is exact
            converged = True
            break
        q = q[:, keep]
    return SigmaTop(math.sqrt(theta), residual, matvecs, converged, "krylov")


def as_matrix(shape: Sequence[int]) -> tuple[int, int] | None:
    """The 2-D shape a tensor is analysed as, or None if it is vector-like.

    Size-1 axes are dropped first (ViT ``pos_embed`` (1, N, d) → (N, d)); a tensor with at
    most one remaining axis has no meaningful σ_top (it is a vector). Conv kernels
    (out, in, kh, kw) and other ≥3-D tensors become (out, in·kh·kw) — the standard
    "output channels × fan-in" unfolding.
    """
    dims = [int(d) for d in shape if int(d) != 1]
    if len(dims) <= 1:
        return None
    rest = 1
    for d in dims[1:]:
        rest *= d
    return dims[0], rest


@dataclass(frozen=True)
class MatrixStats:
    """σ_top, Frobenius norm and stable rank ‖W‖_F²/σ_top² of one matrix (None if not finite)."""

    sigma_max: float | None
    frobenius: float | None
    stable_rank: float | None
    finite: bool
    converged: bool


def _frobenius(flat: np.ndarray) -> float:
    val = float(np.sqrt(np.vdot(flat, flat)))
    if math.isfinite(val):
        return val
    # float32 sum of squares overflowed (entries ≳ 1e19): rescale by the largest entry.
    scale = float(np.max(np.abs(flat)))
    if scale == 0.0 or not math.isfinite(scale):
        return val
    acc = 0.0
    step = 1 << 22
    for i in range(0, flat.size, step):
        chunk = flat[i : i + step].astype(np.float64) / scale
        acc += float(np.dot(chunk, chunk))
    return scale * math.sqrt(acc)


def matrix_stats(w: np.ndarray, **kwargs: object) -> MatrixStats:
    """σ_top, Frobenius norm and stable rank of ``w`` reshaped by :func:`as_matrix`.

    Non-finite entries (NaN/inf) give all-None statistics with ``finite=False``; the caller
    warns. The stable rank is None for an all-zero matrix. ``kwargs`` go to
    :func:`top_singular_value`.
    """
    shape2 = as_matrix(w.shape)
    if shape2 is None:
        raise ValueError(f"matrix_stats needs a matrix-like array, got shape {w.shape}")
    a = w.reshape(shape2)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32)
    flat = a.reshape(-1)
    frob = _frobenius(flat)
    if not math.isfinite(frob):
        if not bool(np.isfinite(flat).all()):
            return MatrixStats(None, None, None, False, True)
    res = top_singular_value(a, **kwargs)  # type: ignore[arg-type]
    sigma = res.sigma
    if not math.isfinite(sigma) or not math.isfinite(frob):
        return MatrixStats(None, None, None, False, res.converged)
    stable = (frob * frob) / (sigma * sigma) if sigma > 0.0 else None
    return MatrixStats(sigma, frob, stable, True, res.converged)


# ----------------------------------------------------------------------------------------
# Grouping
# ----------------------------------------------------------------------------------------

# Checked in order with re.search on the full tensor name; the first hit wins. Vector
# patterns come first so that e.g. ``lm_head.bias`` is a vector, and embedding before hidden
# so that ViT ``patch_embed.proj.weight`` is an embedding, not an attention ``proj``.
DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    # vector: norm gains/biases, biases, GPT-2's stored causal-mask buffers
    ("vector", r"(^|\.)(ln_\w*|\w*norm\w*|layernorm\w*)\.(weight|bias|scale)$"),
    ("vector", r"(^|\.)(bias|masked_bias)$"),
    ("vector", r"\.bias$"),
    # readout: GPT-2/LLaMA lm_head, Meta-LLaMA output, GPT-NeoX embed_out, ViT head/classifier
    ("readout", r"(^|\.)(lm_head|embed_out)\.weight$"),
    ("readout", r"(^|\.)(output|head|classifier)\.weight$"),
    # embedding: GPT-2 wte/wpe, LLaMA embed_tokens / tok_embeddings, BERT-style, ViT
    ("embedding", r"(^|\.)(wte|wpe|embed_tokens|tok_embeddings|embed_in)\.weight$"),
    ("embedding", r"(^|\.)(word|position|token_type)_embeddings\.weight$"),
    ("embedding", r"(^|\.)(patch_embed|patch_embedding)\.|(^|\.)(pos_embed|cls_token)$"),
    # hidden: GPT-2 c_attn/c_proj/c_fc, LLaMA *_proj, Meta-LLaMA wq..w3, ViT qkv/proj/fc1/fc2,
    # GPT-NeoX query_key_value/dense*
    ("hidden", r"(^|\.)(c_attn|c_proj|c_fc|q_attn)\.weight$"),
    ("hidden", r"(^|\.)(q|k|v|o|gate|up|down|qkv|out)_proj\.weight$"),
    ("hidden", r"(^|\.)(wq|wk|wv|wo|w1|w2|w3)\.weight$"),
    ("hidden", r"(^|\.)(qkv|proj|fc1|fc2|query|key|value)\.weight$"),
    ("hidden", r"(^|\.)(query_key_value|dense|dense_h_to_4h|dense_4h_to_h)\.weight$"),
    ("hidden", r"(^|\.)conv\w*\.weight$"),
)


@dataclass(frozen=True)
class Grouper:
    """Assigns each tensor a group: user patterns, then the shape rule, then the defaults.

    Order: (1) user ``GROUP=REGEX`` patterns, first match wins; (2) a tensor with at most one
    non-size-1 axis is ``vector`` whatever its name — it has no σ_top; (3)
    :data:`DEFAULT_PATTERNS`; (4) ``unmatched``. Unmatched matrices still get σ_top but are
    left out of the compare medians (guessing "hidden" could silently skew the verdict).
    """

    user: tuple[tuple[str, re.Pattern[str]], ...] = ()
    defaults: tuple[tuple[str, re.Pattern[str]], ...] = field(
        default_factory=lambda: tuple((g, re.compile(p)) for g, p in DEFAULT_PATTERNS)
    )

    @classmethod
    def from_specs(cls, specs: Iterable[str], option: str = "--group") -> Grouper:
        """Parse ``GROUP=REGEX`` strings; raise InputError (one line) on a bad one."""
        user: list[tuple[str, re.Pattern[str]]] = []
        for spec in specs:
            group, sep, pattern = spec.partition("=")
            group = group.strip()
            if not sep or not pattern:
                raise InputError(f"{option}: {spec!r}: expected GROUP=REGEX")
            if group not in GROUPS:
                raise InputError(f"{option}: group {group!r}: allowed {', '.join(GROUPS)}")
            try:
                user.append((group, re.compile(pattern)))
            except re.error as exc:
                raise InputError(f"{option}: regex {pattern!r}: not a valid regex ({exc})") from None
        return cls(user=tuple(user))

    def group_of(self, name: str, shape: Sequence[int]) -> str:
        for group, pat in self.user:
            if pat.search(name):
                return group
        if as_matrix(shape) is None:
            return "vector"
        for group, pat in self.defaults:
            if pat.search(name):
                return group
        return UNMATCHED


# ----------------------------------------------------------------------------------------
# Summaries and compare
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorRecord:
    """One scanned tensor. ``stats`` is None for vectors and skipped tensors."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    group: str
    stats: MatrixStats | None = None

    @property
    def sigma(self) -> float | None:
        return self.stats.sigma_max if self.stats is not None else None

    def to_json(self) -> dict[str, object]:
        st = self.stats
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "group": self.group,
            "matrix_shape": list(as_matrix(self.shape) or []) or None,
            "sigma_max": _finite_or_none(st.sigma_max) if st else None,
            "frobenius": _finite_or_none(st.frobenius) if st else None,
            "stable_rank": _finite_or_none(st.stable_rank) if st else None,
        }


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def group_summary(records: Iterable[TensorRecord]) -> dict[str, dict[str, object]]:
    """Per group: tensor count, matrices with a σ, and the median σ_top."""
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
            "sigma_max_median": float(np.median(sig)) if sig else None,
        }
    return out


_LAYER_INDEX = re.compile(r"(?<=[._])\d+(?=[._]|$)")


def layer_role(name: str) -> str:
    """Name with layer indices replaced by ``*``: ``transformer.h.3.attn.c_attn.weight`` →
    ``transformer.h.*.attn.c_attn.weight``; ``model.layers.11.mlp.up_proj.weight`` → ….
    """
    return _LAYER_INDEX.sub("*", name)


@dataclass(frozen=True)
class Pair:
    """A proxy/target match: one tensor by name, or one layer role (median over layers)."""

    name: str
    group: str
    sigma_proxy: float
    sigma_target: float
    proxy_shape: tuple[int, int]
    target_shape: tuple[int, int]

    @property
    def ratio(self) -> float:
        return self.sigma_target / self.sigma_proxy


def pair_records(
    proxy: Sequence[TensorRecord], target: Sequence[TensorRecord]
) -> tuple[str, list[Pair], list[str]]:
    """Match proxy and target matrices (groups embedding/hidden/readout, finite σ > 0).

    If both checkpoints have the same set of such names, pairs are by exact name
    (``pairing="name"``). Otherwise (typically a different depth) names are reduced to their
    layer role (:func:`layer_role`) and each role's σ is the median over its layers in each
    checkpoint (``pairing="layer-role"``): per-layer pairs would be arbitrary when depth
    differs. Returns (pairing, pairs, names present in only one checkpoint).
    """
    usable = ("embedding", "hidden", "readout")

    def keep(rs: Sequence[TensorRecord]) -> dict[str, TensorRecord]:
        return {
            r.name: r for r in rs if r.group in usable and r.sigma is not None and r.sigma > 0.0
        }

    p, t = keep(proxy), keep(target)
    if set(p) == set(t):
        pairs = [
            Pair(n, p[n].group, p[n].sigma, t[n].sigma,  # type: ignore[arg-type]
                 as_matrix(p[n].shape), as_matrix(t[n].shape))  # type: ignore[arg-type]
            for n in sorted(p)
        ]
        return "name", pairs, []

    def by_role(rs: dict[str, TensorRecord]) -> dict[str, list[TensorRecord]]:
        out: dict[str, list[TensorRecord]] = {}
        for r in rs.values():
            out.setdefault(layer_role(r.name), []).append(r)
        return out

    pr, tr = by_role(p), by_role(t)
    pairs = []
    for role in sorted(set(pr) & set(tr)):
        a, b = pr[role], tr[role]
        pairs.append(
            Pair(
                role,
                a[0].group,
                float(np.median([r.sigma for r in a])),  # type: ignore[misc]
                float(np.median([r.sigma for r in b])),  # type: ignore[misc]
                as_matrix(a[0].shape),  # type: ignore[arg-type]
                as_matrix(b[0].shape),  # type: ignore[arg-type]
            )
        )
    only = sorted(set(pr) ^ set(tr))
    return "layer-role", pairs, only


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
    m = float(np.median(ms))
    if max(ms) > m * 1.01 or min(ms) < m / 1.01:
        return m, (
            f"hidden shape ratios disagree (from {min(ms):.3g} to {max(ms):.3g}); "
            f"using their median m = {m:.4g}"
        )
    return m, None


def sigma_ratio(lr_ratio: float, wd_ratio: float, width_ratio: float) -> float:
    """Predicted σ_top ratio target/proxy = √(lr_ratio/wd_ratio) · width_ratio^0.75."""
    from .rules import sigma_top_ratio  # the project's one copy of the formula

    return float(sigma_top_ratio(lr_ratio, wd_ratio, width_ratio))


def rule_predictions(width_ratio: float, lr_ratio: float | None = None) -> dict[str, float]:
    """Hidden σ ratio each weight-decay width rule predicts.

    ``lr_ratio`` is η_t/η_p for the hidden group; None means µP's 1/m.
    Worked example: m = 8 → timescale 0.5946, sqrt 1.0, constant 1.6818.
    """
    lr = 1.0 / width_ratio if lr_ratio is None else lr_ratio
    return {
        rule: sigma_ratio(lr, width_ratio**exp, width_ratio)
        for rule, exp in WD_RULE_EXPONENTS.items()
    }


@dataclass(frozen=True)
class Verdict:
    """Which rule the measured hidden median ratio fits (log-space distance ≤ log(1+tol))."""

    rule: str | None
    closest: str | None
    measured: float | None
    tolerance: float
    also_within: tuple[str, ...]
    distinguishable: bool
    message: str

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


def verdict(measured: float | None, predicted: Mapping[str, float], tolerance: float) -> Verdict:
    """Closest rule in log space; "consistent" when |log(measured/predicted)| ≤ log(1+tol).

    If several rules fall inside the tolerance, the closest is named and the others listed.
    If the predictions are within 2·tolerance of each other (m close to 1: m^±0.25 ≈ 1, e.g.
    m < 1.1⁴ ≈ 1.46 at 10 %), no rule is named: such a pair cannot tell the rules apart.
    """
    if measured is None or not predicted:
        return Verdict(None, None, measured, tolerance, (), False,
                       "no verdict: no paired hidden matrices with a finite σ_top")
    band = math.log1p(tolerance)
    dist = {rule: abs(math.log(measured / p)) for rule, p in predicted.items()}
    closest = min(dist, key=dist.__getitem__)
    within = [r for r in dist if dist[r] <= band]
    others = tuple(r for r in within if r != closest)
    spread = max(abs(math.log(a / b)) for a in predicted.values() for b in predicted.values())
    distinguishable = spread > 2 * band
    if not within:
        msg = (
            f"none of the three rules fits: hidden median ratio {measured:.4g}; closest is "
            f"{closest} ({predicted[closest]:.4g}), off by more than {tolerance:.0%}"
        )
        return Verdict(None, closest, measured, tolerance, (), distinguishable, msg)
    if not distinguishable:
        msg = (
            f"no verdict: the rules' predictions ({', '.join(f'{p:.4g}' for p in predicted.values())}) "
            f"are within twice the tolerance of each other at this width ratio; hidden median "
            f"ratio {measured:.4g} is closest to {closest}"
        )
        return Verdict(None, closest, measured, tolerance, others, False, msg)
    msg = (
        f"consistent with the {closest} rule: hidden median ratio {measured:.4g} vs "
        f"predicted {predicted[closest]:.4g} (tolerance {tolerance:.0%})"
    )
    if others:
        msg += f"; also within tolerance: {', '.join(others)}"
    return Verdict(closest, closest, measured, tolerance, others, distinguishable, msg)


def group_ratio_medians(pairs: Sequence[Pair]) -> dict[str, dict[str, object]]:
    """Per group: number of pairs and the median σ ratio target/proxy."""
    out: dict[str, dict[str, object]] = {}
    for group in ("embedding", "hidden", "readout"):
        rs = [p.ratio for p in pairs if p.group == group]
        if rs:
            out[group] = {"pairs": len(rs), "median_ratio": float(np.median(rs))}
    return out


@dataclass(frozen=True)
class Comparison:
    """Proxy vs target: pairs, per-group median ratios, rule predictions and the verdict."""

    pairing: str
    pairs: tuple[Pair, ...]
    unpaired: tuple[str, ...]
    groups: dict[str, dict[str, object]]
    width_ratio: float | None
    width_ratio_source: str
    lr_ratio: float | None
    lr_ratio_source: str
    predicted: dict[str, float]
    configured: float | None
    verdict: Verdict
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "pairing": self.pairing,
            "width_ratio": self.width_ratio,
            "width_ratio_source": self.width_ratio_source,
            "hidden_lr_ratio": self.lr_ratio,
            "hidden_lr_ratio_source": self.lr_ratio_source,
            "groups": self.groups,
            "predicted_hidden_ratio": self.predicted,
            "configured_hidden_ratio": self.configured,
            "verdict": self.verdict.to_json(),
            "pairs": [
                {
                    "name": p.name,
                    "group": p.group,
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


def compare(
    proxy: Sequence[TensorRecord],
    target: Sequence[TensorRecord],
    *,
    width_ratio: float | None = None,
    lr_ratio: float | None = None,
    wd_ratio: float | None = None,
    tolerance: float = 0.10,
) -> Comparison:
    """Compare two scans and name the weight-decay width rule the pair is consistent with.

    ``width_ratio``/``lr_ratio``/``wd_ratio`` (hidden η_t/η_p and coupled λ_t/λ_p) come from
    the two run configs when given. Without them, m is inferred from the hidden shapes
    (:func:`infer_width_ratio`) and η is assumed to follow µP (η_t/η_p = 1/m). The verdict
    uses only the hidden group's median ratio, because the three rules differ only in the
    hidden λ; embedding/readout medians are reported for inspection.
    """
    pairing, pairs, unpaired = pair_records(proxy, target)
    warnings: list[str] = []
    if unpaired:
        warnings.append(
            f"{len(unpaired)} matrix name(s) found in only one checkpoint, not compared: "
            + ", ".join(unpaired[:5])
            + (f" and {len(unpaired) - 5} more" if len(unpaired) > 5 else "")
        )
    inferred, note = infer_width_ratio(pairs)
    if width_ratio is None:
        m, m_source = inferred, "hidden matrix shapes, assuming both axes scale with width"
        if note:
            warnings.append(note)
    else:
        m, m_source = width_ratio, "the configs' model.width"
        if inferred is not None and abs(math.log(inferred / width_ratio)) > math.log(1.01):
            warnings.append(
                f"configs give width ratio {width_ratio:.4g} but the hidden matrix shapes "
                f"give {inferred:.4g}; using the configs"
            )
    groups = group_ratio_medians(pairs)
    predicted: dict[str, float] = {}
    configured = None
    lr_source = "the configs' hidden lr" if lr_ratio is not None else "µP assumed, 1/m"
    lr_used = lr_ratio
    if m is not None:
        lr_used = 1.0 / m if lr_ratio is None else lr_ratio
        predicted = rule_predictions(m, lr_used)
        if wd_ratio is not None and wd_ratio > 0:
            configured = sigma_ratio(lr_used, wd_ratio, m)
    measured = groups.get("hidden", {}).get("median_ratio")
    v = verdict(measured if isinstance(measured, float) else None, predicted, tolerance)
    return Comparison(
        pairing, tuple(pairs), tuple(unpaired), groups, m, m_source if m is not None else "unknown",
        lr_used, lr_source, predicted, configured, v, tuple(warnings),
    )
