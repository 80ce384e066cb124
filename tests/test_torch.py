"""hpscale.torch: groups, init, multipliers, schedules, coordinate check and spectrum on small models.

The models are defined here (nanoGPT-style GPT with and without tied embeddings, a LLaMA-style
model with RMSNorm, grouped-query attention and a gated MLP, a GPT-2 ``Conv1D``-layout model, a
small CNN), tiny and on the CPU, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import copy
import json
import math
import warnings

import pytest

torch = pytest.importorskip("torch", reason="hpscale.torch needs PyTorch (pip install 'hpscale[torch]')")

import numpy as np  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import hpscale  # noqa: E402
import hpscale.torch as hpt  # noqa: E402
from hpscale.errors import InputError  # noqa: E402

VOCAB, SEQ, HEAD_DIM = 61, 8, 8


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is fastest, and on a loaded machine several threads contend (the
    coordinate checks ran 50× slower with 2 threads while other jobs used the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class Attention(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.heads = width // HEAD_DIM
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, HEAD_DIM).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(width), Attention(width)
        self.ln_2, self.mlp = nn.LayerNorm(width), MLP(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's layout: transformer.{wte, wpe, h, ln_f} and lm_head, optionally tied."""

    def __init__(self, width: int = 32, depth: int = 2, tied: bool = True) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, width), wpe=nn.Embedding(SEQ, width),
            h=nn.ModuleList(Block(width) for _ in range(depth)), ln_f=nn.LayerNorm(width)))
        self.lm_head = nn.Linear(width, VOCAB, bias=False)
        if tied:
            self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, None]:
        t = self.transformer
        x = t.wte(idx) + t.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in t.h:
            x = block(x)
        return self.lm_head(t.ln_f(x)), None  # nanoGPT returns (logits, loss)


class RMSNorm(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class LlamaAttention(nn.Module):
    def __init__(self, width: int, kv_heads: int) -> None:
        super().__init__()
        self.heads, self.kv_heads = width // HEAD_DIM, kv_heads
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, kv_heads * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(width, kv_heads * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q = self.q_proj(x).view(b, t, self.heads, HEAD_DIM).transpose(1, 2)
        k, v = (p(x).view(b, t, self.kv_heads, HEAD_DIM).transpose(1, 2) for p in (self.k_proj, self.v_proj))
        repeat = self.heads // self.kv_heads
        k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, d))


class Llama(nn.Module):
    """LLaMA's layout: embed_tokens, layers.{input_layernorm, self_attn, post_attention_layernorm,
    mlp.{gate,up,down}_proj}, norm, lm_head (untied). ``kv_heads`` None: half the query heads
    (grows with width); a number: fixed (the key/value projections then keep their output size)."""

    def __init__(self, width: int = 32, depth: int = 1, kv_heads: int | None = None) -> None:
        super().__init__()
        kv = kv_heads or width // HEAD_DIM // 2
        self.embed_tokens = nn.Embedding(VOCAB, width)
        self.layers = nn.ModuleList()
        for _ in range(depth):
            layer = nn.Module()
            layer.input_layernorm, layer.self_attn = RMSNorm(width), LlamaAttention(width, kv)
            layer.post_attention_layernorm, layer.mlp = RMSNorm(width), nn.Module()
            layer.mlp.gate_proj = nn.Linear(width, 3 * width, bias=False)
            layer.mlp.up_proj = nn.Linear(width, 3 * width, bias=False)
            layer.mlp.down_proj = nn.Linear(3 * width, width, bias=False)
            self.layers.append(layer)
        self.norm = RMSNorm(width)
        self.lm_head = nn.Linear(width, VOCAB, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(idx)
        for layer in self.layers:
            x = x + layer.self_attn(layer.input_layernorm(x))
            h = layer.post_attention_layernorm(x)
            x = x + layer.mlp.down_proj(F.silu(layer.mlp.gate_proj(h)) * layer.mlp.up_proj(h))
        return self.lm_head(self.norm(x))


class Conv1D(nn.Module):
    """GPT-2's transposed linear layer (Hugging Face transformers): weight (nx, nf), y = x·W + b."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], self.nf)


class GPT2Conv1D(nn.Module):
    """GPT-2's Conv1D layout, with the output layer a Conv1D too (nf = vocabulary)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, width), nn.Embedding(SEQ, width)
        self.ln_1, self.ln_f = nn.LayerNorm(width), nn.LayerNorm(width)
        self.c_attn, self.c_proj = Conv1D(3 * width, width), Conv1D(width, width)
        self.c_fc, self.mlp_proj = Conv1D(4 * width, width), Conv1D(width, 4 * width)
        self.score = Conv1D(VOCAB, width)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        q, k, v = self.c_attn(self.ln_1(x)).chunk(3, dim=-1)
        x = x + self.c_proj(F.scaled_dot_product_attention(q, k, v, is_causal=True))
        x = x + self.mlp_proj(F.gelu(self.c_fc(x)))
        return self.score(self.ln_f(x))


class CNN(nn.Module):
    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = F.relu(self.conv(x))
        return self.head(x.mean(dim=(2, 3)))


MODELS = {
    "gpt-tied": lambda w: GPT(w, tied=True),
    "gpt-untied": lambda w: GPT(w, tied=False),
    "llama-gqa": lambda w: Llama(w),
    "llama-fixed-kv": lambda w: Llama(w, kv_heads=2),
    "conv1d": lambda w: GPT2Conv1D(w),
    "cnn": lambda w: CNN(w),
}


def tokens(batch: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, VOCAB, (batch, SEQ + 1), generator=g)
    return idx[:, :-1], idx[:, 1:]


PROXY = {
    "name": "tiny-mup",
    "model": {"width": 32, "base_width": 32, "depth": 2},
    "data": {"dataset_size": 1e6, "batch_size": 256, "unit": "tokens"},
    "optimizer": {"lr": 1e-2, "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": 1e-8},
    "init_std": 0.02,
    "param_groups": {"vector": {"weight_decay": 0.0}},
}


def plan_at(width: int, **kwargs) -> dict:
    return hpscale.transfer(PROXY, width=width, **kwargs).to_json_dict()


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# classify
# ---------------------------------------------------------------------------------------------


def test_classify_nanogpt_untied():
    groups = hpt.classify(GPT(32, tied=False))
    assert groups["transformer.wte.weight"] == groups["transformer.wpe.weight"] == "embedding"
    assert groups["lm_head.weight"] == "readout"
    for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
        assert groups[f"transformer.h.0.{name}.weight"] == "hidden"
        assert groups[f"transformer.h.1.{name}.bias"] == "vector"
    assert groups["transformer.ln_f.weight"] == groups["transformer.h.0.ln_1.bias"] == "vector"
    counts = {g: list(groups.values()).count(g) for g in ("embedding", "hidden", "readout", "vector")}
    assert counts == {"embedding": 2, "hidden": 8, "readout": 1, "vector": 18}


def test_tied_embedding_is_an_embedding_with_a_warning():
    model = GPT(32, tied=True)
    with pytest.warns(UserWarning, match=r"lm_head\.weight is tied to transformer\.wte\.weight.*embedding group"):
        groups = hpt.classify(model)
    assert "lm_head.weight" not in groups and groups["transformer.wte.weight"] == "embedding"
    assert list(groups) == [name for name, _ in model.named_parameters()]


def test_llama_gqa_rmsnorm_and_gated_mlp():
    groups = hpt.classify(Llama(32))
    layer = "layers.0."
    for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
        assert groups[layer + name + ".weight"] == "hidden", name
    assert groups[layer + "input_layernorm.weight"] == groups["norm.weight"] == "vector"
    assert groups["embed_tokens.weight"] == "embedding" and groups["lm_head.weight"] == "readout"


def test_conv1d_layout_and_its_output_layer():
    groups = hpt.classify(GPT2Conv1D(32))
    assert groups["score.weight"] == "readout"  # a Conv1D (nx, nf = vocabulary), found by structure
    assert {groups[f"{n}.weight"] for n in ("c_attn", "c_proj", "c_fc", "mlp_proj")} == {"hidden"}
    assert groups["score.bias"] == groups["c_attn.bias"] == "vector"


def test_cnn_stem_is_an_embedding_and_kernels_are_hidden():
    groups = hpt.classify(CNN(16))
    assert groups == {"stem.weight": "embedding", "stem.bias": "vector", "bn.weight": "vector",
                      "bn.bias": "vector", "conv.weight": "hidden", "conv.bias": "vector",
                      "head.weight": "readout", "head.bias": "vector"}


@pytest.mark.parametrize("name", list(MODELS))
def test_structure_agrees_with_the_base_model_shape_diff(name):
    make = MODELS[name]
    with torch.device("meta"):
        base = make(16)
    heuristic, exact = quiet(hpt.classify, make(32)), quiet(hpt.classify, make(32), base)
    assert heuristic == exact


def test_base_rule_by_shapes():
    # With a fixed number of key/value heads their projections keep their output size: only the
    # fan-in scales, like the readout, but they are inner matrices: hidden (lr ∝ 1/fan_in).
    with torch.device("meta"):
        base = Llama(64, kv_heads=2)
    model = Llama(32, kv_heads=2)
    assert model.layers[0].self_attn.k_proj.weight.shape[0] == base.layers[0].self_attn.k_proj.weight.shape[0]
    groups = hpt.classify(model, base)
    assert groups["layers.0.self_attn.k_proj.weight"] == "hidden" and groups["lm_head.weight"] == "readout"
    # An output layer that nothing marks by name or vocabulary: with base, the fan-in-only matrix.
    cnn, cnn_base = CNN(16), CNN(32)
    cnn.out, cnn_base.out = cnn.head, cnn_base.head
    del cnn.head, cnn_base.head
    assert hpt.classify(cnn, cnn_base)["out.weight"] == "readout"
    with pytest.raises(InputError, match="no output layer found"):
        hpt.classify(cnn)


def test_patterns_override_and_refuse_ambiguity():
    model = GPT(32, tied=False)
    groups = hpt.classify(model, patterns={r"wpe\.weight$": "vector"})
    assert groups["transformer.wpe.weight"] == "vector"
    with pytest.raises(InputError, match=r"patterns: transformer\.h\.0\.attn\.c_attn\.weight is matched by "
                                         r"'c_attn' \(hidden\) and 'h\\\\.0\\\\.attn' \(embedding\)"):
        hpt.classify(model, patterns={"c_attn": "hidden", r"h\.0\.attn": "embedding"})
    with pytest.raises(InputError, match="'lm_haed' matches no parameter"):
        hpt.classify(model, patterns={"lm_haed": "readout"})
    with pytest.raises(InputError, match="group 'output': allowed: embedding, hidden, readout, vector"):
        hpt.classify(model, patterns={"lm_head": "output"})


def test_no_output_layer_is_a_clear_error():
    body = nn.Sequential(nn.Embedding(VOCAB, 32), Block(32))
    with pytest.raises(ValueError, match=r"Sequential: no output layer found.*patterns=.*base="):
        hpt.classify(body)
    assert hpt.classify(body, patterns={r"mlp\.c_proj\.weight": "readout"})["1.mlp.c_proj.weight"] == "readout"


def test_a_base_of_the_same_width_is_m_1():
    """A width sweep that includes the base width: m = 1, accepted as the reference µP library
    does; the groups are those of the structure (no axis scales) and every lr is the plan's own."""
    model = GPT(32)
    assert quiet(hpt.classify, model, GPT(32)) == quiet(hpt.classify, model)
    plan = hpscale.transfer(PROXY, width=32)
    lrs = {g["hpscale_group"]: g["lr"] for g in quiet(hpt.param_groups, model, plan, GPT(32))}
    assert lrs == {g["hpscale_group"]: g["lr"] for g in quiet(hpt.param_groups, model, plan)}


def test_base_must_match():
    with pytest.raises(InputError, match="base must be the same architecture"):
        quiet(hpt.classify, GPT(32, depth=2), GPT(16, depth=1))


# ---------------------------------------------------------------------------------------------
# plans and param_groups
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_every_parameter_exactly_once(name):
    model = MODELS[name](32)
    groups = quiet(hpt.param_groups, model, plan_at(64))
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert [g["hpscale_group"] for g in groups] == [g for g in ("embedding", "hidden", "readout", "vector")
                                                    if any(g == h["hpscale_group"] for h in groups)]


def test_group_values_are_the_plans(tmp_path):
    result = hpscale.transfer(PROXY, width=128)
    plan = result.to_json_dict()
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    model = Llama(128)
    by_form = [hpt.param_groups(model, form) for form in (plan, str(path), path, result)]
    for groups in by_form[1:]:
        assert [{k: v for k, v in g.items() if k != "params"} for g in groups] == \
               [{k: v for k, v in g.items() if k != "params"} for g in by_form[0]]
    for g in by_form[0]:
        expected = plan["optimizer_groups"][g["hpscale_group"]]
        assert (g["lr"], g["weight_decay"], list(g["betas"]), g["eps"]) == \
               (expected["lr"], expected["weight_decay"], expected["betas"], expected["eps"])
    hidden = next(g for g in by_form[0] if g["hpscale_group"] == "hidden")
    assert hidden["lr"] == pytest.approx(1e-2 / 4) and hidden["weight_decay"] == pytest.approx(0.1 * 4)


def test_independent_weight_decay_becomes_coupled_per_group():
    proxy = copy.deepcopy(PROXY)
    proxy["optimizer"]["weight_decay"], proxy["optimizer"]["weight_decay_convention"] = 1e-4, "independent"
    plan = hpscale.transfer(proxy, width=64).to_json_dict()
    groups = {g["hpscale_group"]: g for g in hpt.param_groups(Llama(64), plan)}
    for group, g in groups.items():
        values = plan["optimizer_groups"][group]
        assert g["weight_decay"] == pytest.approx(values["weight_decay"] / values["lr"])
    assert groups["hidden"]["weight_decay"] == pytest.approx(1e-4 / 1e-2 * 2)  # λ = λ_ind/η, × m


@pytest.mark.parametrize("change, needle", [
    ({"schema_version": 2}, "plan: schema_version 2: this hpscale reads schema_version 1"),
    ({"schema_version": None}, "plan: schema_version missing"),
    ({"weight_decay_convention": "decoupled"}, "weight_decay_convention: 'decoupled'"),
    ({"optimizer_groups": {"hidden": {}}}, r"plan: optimizer_groups\.embedding: missing"),
])
def test_bad_plans(change, needle):
    plan = plan_at(64) | change
    with pytest.raises(ValueError, match=needle):
        hpt.param_groups(Llama(32), plan)


def test_bad_plan_values_and_files(tmp_path):
    plan = plan_at(64)
    plan["optimizer_groups"]["hidden"]["lr"] = -1
    with pytest.raises(InputError, match=r"plan: optimizer_groups\.hidden\.lr: -1: must be a finite number > 0"):
        hpt.param_groups(Llama(32), plan)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="bad.json: not JSON"):
        hpt.param_groups(Llama(32), tmp_path / "bad.json")
    with pytest.raises(InputError, match="no such file"):
        hpt.param_groups(Llama(32), tmp_path / "missing.json")
    with pytest.raises(InputError, match="plan: int: expected a transfer result"):
        hpt.param_groups(Llama(32), 3)


def test_tied_weights_follow_the_embedding_group():
    model = GPT(32, tied=True)
    plan = plan_at(64)
    plan["optimizer_groups"]["embedding"]["weight_decay"] = 0.0
    with pytest.warns(UserWarning, match="tied"):
        groups = {g["hpscale_group"]: g for g in hpt.param_groups(model, plan)}
    assert model.lm_head.weight in groups["embedding"]["params"] and "readout" not in groups
    assert groups["embedding"]["weight_decay"] == 0.0
    # A pattern may send the shared tensor to the readout group instead (by its alias too).
    assert quiet(hpt.classify, model, patterns={r"^lm_head\.weight$": "readout"})["transformer.wte.weight"] == "readout"
    handles = quiet(hpt.apply_multipliers, model, plan, patterns={r"^lm_head\.weight$": "readout"})
    assert [h.name for h in handles] == ["lm_head"]
    table3 = plan_at(64, readout_rule="table3")
    with pytest.raises(InputError, match="readout_rule 'table3' with tied weights.*--readout-rule mureadout"):
        quiet(hpt.param_groups, model, table3)


def test_overrides_are_the_groups_as_plain_data():
    model = GPT(32, tied=False)
    plan = plan_at(64)
    data = hpt.overrides(model, plan)
    json.dumps(data, allow_nan=False)
    groups = hpt.param_groups(model, plan)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [d["params"] for d in data] == [[names[id(p)] for p in g["params"]] for g in groups]
    hidden = plan["optimizer_groups"]["hidden"]
    assert data[1] == {"params": data[1]["params"], "lr": hidden["lr"], "weight_decay": hidden["weight_decay"],
                       "betas": [0.9, 0.95], "eps": hidden["eps"], "hpscale_group": "hidden"}


# ---------------------------------------------------------------------------------------------
# apply_init
# ---------------------------------------------------------------------------------------------


def test_init_std_after_apply_init():
    model = Llama(256, depth=1)
    plan = plan_at(256)
    hpt.apply_init(model, plan, generator=torch.Generator().manual_seed(0))
    groups = hpt.classify(model)
    for name, p in model.named_parameters():
        group = groups[name]
        if group == "vector":
            assert torch.equal(p, torch.ones_like(p)), name  # RMSNorm gains
            continue
        expected, n = plan["model_groups"][group]["init_std"], p.numel()
        # The sample std of n normals has standard error σ/√(2n): allow 5 of them.
        assert abs(p.std().item() - expected) < 5 * expected / math.sqrt(2 * n), name
        assert abs(p.mean().item()) < 5 * expected / math.sqrt(n), name
    assert plan["model_groups"]["hidden"]["init_std"] == pytest.approx(0.02 / math.sqrt(8))


def test_apply_init_leaves_alone_what_the_plan_does_not_rescale():
    model = GPT(32, tied=False)
    with torch.no_grad():
        model.transformer.ln_f.weight.fill_(0.0)  # Gemma: zero-init gain used as x·(1 + w)
        model.transformer.h[0].mlp.c_fc.bias.fill_(0.25)  # Mamba's dt_proj.bias: its own init
    before = {n: p.clone() for n, p in model.named_parameters()}
    hpt.apply_init(model, plan_at(32))
    groups = quiet(hpt.classify, model)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) == (groups[name] == "vector"), name
    with pytest.raises(InputError, match="vectors: 'zero': allowed: keep, reset"):
        hpt.apply_init(model, plan_at(32), vectors="zero")


def test_apply_init_biases_gains_padding_and_missing_std():
    model = GPT(32, tied=False)
    model.transformer.wte.padding_idx = 0
    hpt.apply_init(model, plan_at(32), vectors="reset")
    assert torch.equal(model.transformer.h[0].mlp.c_fc.bias, torch.zeros(4 * 32))
    assert torch.equal(model.transformer.ln_f.weight, torch.ones(32))
    assert torch.equal(model.transformer.wte.weight[0], torch.zeros(32))
    hpt.apply_init(model, plan_at(32), patterns={r"^lm_head\.": "readout", r"c_fc\.bias": "hidden"},
                   vectors="reset")
    assert torch.equal(model.transformer.h[1].mlp.c_fc.bias, torch.zeros(4 * 32))  # a bias stays 0
    proxy = copy.deepcopy(PROXY)
    del proxy["init_std"]
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(InputError, match=r"model_groups\.embedding\.init_std: null.*state init_std"):
        hpt.apply_init(model, hpscale.transfer(proxy, width=32))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ---------------------------------------------------------------------------------------------
# apply_multipliers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tied", [False, True])
def test_readout_multiplier_scales_logits_exactly(tied):
    model, (x, _) = GPT(32, tied=tied), tokens()
    plan = plan_at(128)
    multiplier = plan["model_groups"]["readout"]["multiplier"]
    assert multiplier == 0.25
    plain = model(x)[0]
    handles = quiet(hpt.apply_multipliers, model, plan)
    assert [(h.name, h.role, h.value) for h in handles] == [("lm_head", "readout", 0.25)]
    assert torch.equal(model(x)[0], plain * multiplier)
    with pytest.raises(InputError, match="lm_head: already carries.*called twice"):
        quiet(hpt.apply_multipliers, model, plan)
    for handle in handles:
        handle.remove()
    assert torch.equal(model(x)[0], plain)
    assert quiet(hpt.apply_multipliers, model, plan_at(32)) == []  # multiplier 1: no hook


def test_a_readout_used_by_the_models_own_code_gets_no_hook():
    class FunctionalHead(nn.Module):  # logits = F.linear(x, wte.weight): no output module to hook
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.block = nn.Embedding(VOCAB, 32), Block(32)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            return F.linear(self.block(self.wte(idx)), self.wte.weight)

    model = FunctionalHead()
    with pytest.raises(InputError, match="no output layer found"):
        hpt.classify(model)
    patterns = {r"^wte\.weight$": "readout"}
    assert hpt.classify(model, patterns=patterns)["wte.weight"] == "readout"
    with pytest.raises(InputError, match=r"wte\.weight: the readout is not a layer's weight.*in the model's forward"):
        hpt.apply_multipliers(model, plan_at(128), patterns=patterns)


def test_a_readout_with_its_own_mup_multiplier_is_refused():
    class MuReadout(nn.Linear):  # the reference µP library's output layer: forward / width_mult()
        output_mult = 1.0

        def width_mult(self) -> float:
            return 4.0

    model = Llama(32)
    model.lm_head = MuReadout(32, VOCAB, bias=False)
    with pytest.raises(InputError, match="MuReadout already divides its output.*twice"):
        hpt.apply_multipliers(model, plan_at(128))


def test_residual_multiplier_on_depth_transfer():
    model = GPT(32, depth=2, tied=False)
    plan = plan_at(32, depth=4)
    assert plan["residual_multiplier"] == 0.5
    with pytest.raises(InputError, match=r"residual_multiplier 0.5 \(depth transfer\): pass the residual-branch"):
        hpt.apply_multipliers(model, plan)
    branch = model.transformer.h[0].mlp
    h = model.transformer.h[0].ln_2(torch.randn(2, SEQ, 32))
    plain = branch(h)
    branches = [m for block in model.transformer.h for m in (block.attn, block.mlp)]
    handles = hpt.apply_multipliers(model, plan, residual=branches)
    assert len(handles) == 4 and {h.role for h in handles} == {"residual"}
    assert torch.equal(branch(h), plain * 0.5)
    assert hpt.apply_multipliers(GPT(32, tied=False), plan, residual=[]) == []
    with pytest.raises(InputError, match="residual: 'transformer.h.9': no such module"):
        hpt.apply_multipliers(GPT(32, tied=False), plan, residual=["transformer.h.9"])


# ---------------------------------------------------------------------------------------------
# Optimizer steps and schedules
# ---------------------------------------------------------------------------------------------


def test_an_adamw_step_and_a_lambda_schedule_keep_the_ratios():
    model, (x, y) = Llama(64), tokens()
    plan = plan_at(128)
    optimizer = torch.optim.AdamW(hpt.param_groups(model, plan))
    peaks = {g["hpscale_group"]: g["lr"] for g in optimizer.param_groups}
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 4))
    for step in range(3):
        before = {id(p): p.detach().clone() for p in model.parameters()}
        optimizer.zero_grad()
        F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1)).backward()
        optimizer.step()
        for g in optimizer.param_groups:
            lr, wd = g["lr"], g["weight_decay"]
            assert lr == pytest.approx(peaks[g["hpscale_group"]] * (step + 1) / 4)
            if step == 0:  # Adam's first update is lr·g/(|g| + ε): at most lr per coordinate
                steps = [(p - before[id(p)] * (1 - lr * wd)).abs().max().item() for p in g["params"]]
                assert max(steps) == pytest.approx(lr, rel=1e-3), g["hpscale_group"]
        scheduler.step()
    ratios = {g["hpscale_group"]: g["lr"] / peaks[g["hpscale_group"]] for g in optimizer.param_groups}
    assert len(set(np.round(list(ratios.values()), 12))) == 1
    # The pitfall: one value for every group erases µP's per-group learning rates.
    for g in optimizer.param_groups:
        g["lr"] = 1e-3
    assert len({g["lr"] / peaks[g["hpscale_group"]] for g in optimizer.param_groups}) > 1


# ---------------------------------------------------------------------------------------------
# Coordinate check
# ---------------------------------------------------------------------------------------------


def test_coordinate_check_is_flat_under_mup_and_grows_under_standard():
    batch, widths = tokens(8), [32, 64, 128, 256]
    make = lambda w: GPT(w, depth=2, tied=False)  # noqa: E731
    mup = quiet(hpt.coord_check, make, widths, batch, plan=PROXY, steps=3)
    standard = hpt.coord_check(make, widths, batch, lr=1e-2, steps=3)
    assert mup.layers() == standard.layers() and len(mup.layers()) == 19
    # µP: no layer's change grows with width (a few shrink slightly: finite width at W = 32).
    slopes = mup.change_slopes
    assert all(-0.4 < slope < 0.15 for slope in slopes.values()), mup.table("change")
    # Standard parametrization, one lr: the hidden layers' change grows like W^0.4…W^1.
    hidden = [layer for layer, r in {r.layer: r for r in standard.records}.items() if r.group == "hidden"]
    grown = sorted(standard.change_slopes[layer] for layer in hidden)
    assert grown[len(grown) // 2] > 0.4 and grown[-1] > 0.8, standard.table("change")
    assert standard.change_slopes["lm_head"] > 0.3
    assert {r.group for r in mup.records if r.layer == "lm_head"} == {"readout"}
    text = mup.table()
    assert text.splitlines()[0] == "µP: mean |x_t| at step 3" and "W=256" in text and "lm_head" in text


def test_coordinate_check_catches_a_readout_multiplier_applied_twice():
    def twice(width: int) -> dict:
        plan = plan_at(width)
        plan["model_groups"]["readout"]["multiplier"] **= 2
        return plan

    make = lambda w: GPT(w, depth=1, tied=False)  # noqa: E731
    check = quiet(hpt.coord_check, make, [32, 64, 128, 256], tokens(8), plan=twice, steps=3)
    assert check.change_slopes["lm_head"] < -0.8


def test_coord_check_bad_arguments():
    with pytest.raises(InputError, match="at least two different positive widths"):
        hpt.coord_check(lambda w: GPT(w), [32, 32], tokens())
    with pytest.raises(InputError, match="a transfer JSON holds the numbers of one width"):
        quiet(hpt.coord_check, lambda w: GPT(w), [32, 64], tokens(), plan=plan_at(64))


def test_coord_check_figure(tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs the plot extra (matplotlib)")
    from hpscale.plots.coord_check import figure

    make = lambda w: CNN(w)  # noqa: E731
    batch = (torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))
    checks = [hpt.coord_check(make, [8, 16], batch, steps=1),
              hpt.coord_check(make, [8, 16], batch, steps=1, plan=PROXY | {"model": {"width": 8}})]
    fig = figure(checks, metric="change")
    assert len(fig.axes) == 2
    fig.savefig(tmp_path / "coord.png")
    assert (tmp_path / "coord.png").stat().st_size > 1000


# ---------------------------------------------------------------------------------------------
# spectrum
# ---------------------------------------------------------------------------------------------


def test_spectrum_of_a_live_model_matches_numpy():
    model = CNN(16)
    stats = hpt.spectrum(model)
    assert set(stats) == {"stem.weight", "conv.weight", "head.weight"}  # vectors are skipped
    conv = stats["conv.weight"]
    matrix = model.conv.weight.detach().numpy().reshape(16, 16 * 9)
    singular = np.linalg.svd(matrix, compute_uv=False)
    assert conv.stats.sigma_max == pytest.approx(singular[0], rel=1e-5)
    assert conv.stats.frobenius == pytest.approx(np.linalg.norm(matrix), rel=1e-6)
    assert conv.stats.stable_rank == pytest.approx((singular**2).sum() / singular[0] ** 2, rel=1e-4)
    assert (conv.group, conv.shape) == ("hidden", (16, 16, 3, 3))
    groups = {n: s.group for n, s in quiet(hpt.spectrum, GPT(32)).items()}
    assert groups["transformer.wte.weight"] == "embedding" and "lm_head.weight" not in groups
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    assert hpt.spectrum(model)["head.weight"].stats.finite is False


def test_spectrum_uses_the_checkpoint_core_on_large_matrices():
    from hpscale.core.spectrum import matrix_stats

    layer = nn.Linear(300, 200)  # both sides above the direct-solve limit: Lanczos with torch products
    with torch.no_grad():
        layer.weight.copy_(torch.randn(200, 300, generator=torch.Generator().manual_seed(0)) / 20)
    stats = hpt.spectrum(nn.Sequential(layer))["0.weight"].stats
    core = matrix_stats(layer.weight.detach().numpy())  # what `hpscale spectrum` computes from a file
    assert stats.sigma_max == pytest.approx(core.sigma_max, rel=1e-6)
    assert stats.frobenius == pytest.approx(core.frobenius, rel=1e-6) and stats.converged


# ---------------------------------------------------------------------------------------------
# The docs' code (docs/torch.md)
# ---------------------------------------------------------------------------------------------


def readme_block(marker: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "torch.md").read_text(encoding="utf-8")
    after = text[text.index(f"<!-- {marker}:"):]
    start = after.index("```python\n") + len("```python\n")
    return after[start:after.index("```\n", start)]


def test_readme_recipe_runs_on_a_nanogpt_model(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_at(128)))
    model, (x, _) = GPT(128, tied=True), tokens()
    namespace = {"model": model, "plan": str(path), "torch": torch}
    with pytest.warns(UserWarning, match="tied"):
        exec(readme_block("torch-recipe"), namespace)
    assert "'transformer.wte.weight': 'embedding'" in capsys.readouterr().out
    optimizer, handles = namespace["optimizer"], namespace["handles"]
    lrs = {g["hpscale_group"]: g["lr"] for g in optimizer.param_groups}
    assert lrs == {"embedding": 1e-2, "hidden": 2.5e-3, "vector": 1e-2}
    assert [h.name for h in handles] == ["lm_head"]
    assert model.transformer.h[0].attn.c_attn.weight.std().item() == pytest.approx(0.01, rel=0.05)
    hooked = model(x)[0]
    handles[0].remove()
    assert torch.equal(hooked, model(x)[0] * 0.25)  # W₀/W = 32/128, in the forward pass


def test_readme_schedule_pitfall_and_fix():
    import re

    optimizer = torch.optim.AdamW(hpt.param_groups(Llama(64), plan_at(128)))
    peaks = [g["lr"] for g in optimizer.param_groups]
    learning_rate = 6e-4
    namespace = {"optimizer": optimizer, "torch": torch, "learning_rate": learning_rate, "it": 5,
                 "get_lr": lambda it: learning_rate * 0.5}
    pitfall, loop, scheduler = [part for part in re.split(r"^# .*\n", readme_block("torch-schedules"),
                                                          flags=re.M) if part.strip()]

    def run(code: str) -> list[float]:
        for group, peak in zip(optimizer.param_groups, peaks, strict=True):
            group["lr"] = peak
        exec(code, namespace)
        return [g["lr"] for g in optimizer.param_groups]

    assert set(run(pitfall)) == {3e-4}  # one value: the per-group ratios are gone
    assert run(loop) == pytest.approx([p * 0.5 for p in peaks])
    run(scheduler)
    assert namespace["scheduler"].base_lrs == pytest.approx(peaks)
    assert namespace["scheduler"].get_last_lr() == pytest.approx([p * 0.5 for p in peaks])
