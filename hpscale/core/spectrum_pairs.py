"""Proxy/target pairing of two scans, the median σ ratios per group and role, and the verdict.

Pure (no I/O, no printing); part of ``hpscale.core.spectrum`` (map there).
:func:`compare` pairs two scans' :class:`~hpscale.core.spectrum_records.TensorRecord` rows
(:func:`pair_records`), infers or takes the width ratio, and names the weight-decay width rule
the hidden group's median ratio is consistent with (:func:`verdict`); the caller passes the
rules' predictions (``predict(m)``, built from ``hpscale.core.compose``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from .spectrum_init import InitCheck, init_check
from .spectrum_records import TensorRecord, _median, layer_role


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
    untrained: bool = False  # withheld: the weights still look like their initialisation

    @property
    def short(self) -> str:
        """One word for a table cell: the rule, "none", "?" (indistinguishable), "init" (the
        weights look untrained) or "—"."""
        if self.untrained:
            return "init"
        if self.measured is None or self.closest is None:
            return "—"
        if not self.distinguishable:
            return "?"
        return self.rule if self.rule is not None else "none"

    def to_json_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "closest": self.closest,
            "consistent": self.rule is not None,
            "measured_hidden_median_ratio": self.measured,
            "tolerance": self.tolerance,
            "also_within_tolerance": list(self.also_within),
            "rules_distinguishable": self.distinguishable,
            "message": self.message,
            "untrained": self.untrained,
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

    def to_json_dict(self) -> dict[str, object]:
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
    init: InitCheck | None = None

    @property
    def groups(self) -> dict[str, dict[str, object]]:
        """Per group: pairs and median ratio (the group rows of :attr:`rows`)."""
        return {r.group: {"pairs": r.pairs, "median_ratio": r.median_ratio} for r in self.rows if r.role is None}

    def to_json_dict(self) -> dict[str, object]:
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
            "rows": [r.to_json_dict() for r in self.rows],
            "verdict": self.verdict.to_json_dict(),
            "initialisation": self.init.to_json_dict() if self.init is not None else None,
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
    own verdicts and embedding/readout medians are reported for inspection. When either
    side's hidden matrices still look like their random initialisation
    (``hpscale.core.spectrum_init.init_check``) every verdict is withheld (``untrained``).
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
    init = init_check(proxy, target)
    if init.untrained:
        rows, v = _withheld(rows, v, init)
    conf = configured(m) if configured is not None and m is not None else None
    depths = (max(_depths(proxy).values(), default=None), max(_depths(target).values(), default=None))
    return Comparison(
        pairing, tuple(pairs), tuple(unpaired), tuple(rows), m,
        m_source if m is not None else "unknown", prediction.lr_ratio, prediction.source,
        prediction.sigma_ratios, prediction.source, conf, v, tuple(warnings), depths, init,
    )


def _withheld(rows: list[RatioRow], v: Verdict, init: InitCheck) -> tuple[list[RatioRow], Verdict]:
    """Every verdict replaced by "untrained": no rule named, the closest still reported."""

    def off(x: Verdict, message: str) -> Verdict:
        return replace(x, rule=None, also_within=(), untrained=True, message=message)

    rows = [replace(r, verdict=off(r.verdict, init.message())) if r.verdict else r for r in rows]
    return rows, off(v, init.message())
