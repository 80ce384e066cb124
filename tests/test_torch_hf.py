"""hpscale.torch on real Hugging Face models: 21 architectures built from tiny configs (no hub).

transformers is a test-only dependency (the ``trainer-hf`` extra); without it every test here
skips with the reason. Widths 32 and 64 with a fixed head size (16): the number of heads grows
with width, as in a µP width sweep, so ``classify`` without ``base=`` (structure) and with it
(the reference µP library's shape diff) can be compared parameter by parameter.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (pip install 'hpscale[trainer-hf]')")

import hpscale  # noqa: E402
import hpscale.torch as hpt  # noqa: E402

VOCAB = 96  # ≠ every hidden size, so no inner layer looks like the LM head by its size


def _config(arch: str, w: int):  # noqa: ANN202 - a transformers config
    t = transformers
    h, kv = w // 16, max(1, w // 32)
    llama = dict(hidden_size=w, intermediate_size=3 * w, num_hidden_layers=2, num_attention_heads=h,
                 num_key_value_heads=kv, vocab_size=VOCAB)
    bert = dict(hidden_size=w, intermediate_size=3 * w, num_hidden_layers=2, num_attention_heads=h,
                vocab_size=VOCAB)
    lm, mlm = t.AutoModelForCausalLM, t.AutoModelForMaskedLM
    table = {
        "llama": (t.LlamaConfig(**llama), lm),
        "mistral": (t.MistralConfig(**llama), lm),
        "qwen2": (t.Qwen2Config(**llama), lm),
        "qwen3": (t.Qwen3Config(**llama, head_dim=16), lm),
        "gemma2": (t.Gemma2Config(**llama, head_dim=16), lm),
        "gemma3": (t.Gemma3TextConfig(**llama, head_dim=16), lm),
        "phi3": (t.Phi3Config(**llama, pad_token_id=0), lm),
        "gpt2": (t.GPT2Config(n_embd=w, n_layer=2, n_head=h, n_positions=32, vocab_size=VOCAB), lm),
        "gpt_neox": (t.GPTNeoXConfig(**bert), lm),
        "opt": (t.OPTConfig(hidden_size=w, ffn_dim=3 * w, num_hidden_layers=2, num_attention_heads=h,
                            word_embed_proj_dim=w, max_position_embeddings=32, vocab_size=VOCAB), lm),
        "falcon": (t.FalconConfig(hidden_size=w, num_hidden_layers=2, num_attention_heads=h,
                                  vocab_size=VOCAB), lm),
        "bloom": (t.BloomConfig(hidden_size=w, n_layer=2, n_head=h, vocab_size=VOCAB), lm),
        "bert": (t.BertConfig(**bert, max_position_embeddings=32), mlm),
        "roberta": (t.RobertaConfig(**bert, max_position_embeddings=34), mlm),
        "distilbert": (t.DistilBertConfig(dim=w, hidden_dim=3 * w, n_layers=2, n_heads=h,
                                          max_position_embeddings=32, vocab_size=VOCAB), mlm),
        "t5": (t.T5Config(d_model=w, d_ff=3 * w, d_kv=16, num_layers=2, num_heads=h, vocab_size=VOCAB),
               t.AutoModelForSeq2SeqLM),
        "vit": (t.ViTConfig(hidden_size=w, intermediate_size=3 * w, num_hidden_layers=2,
                            num_attention_heads=h, image_size=16, patch_size=8, num_labels=10),
                t.AutoModelForImageClassification),
        "mixtral": (t.MixtralConfig(**llama, num_local_experts=4, num_experts_per_tok=2), lm),
        "qwen2_moe": (t.Qwen2MoeConfig(**llama, moe_intermediate_size=w, shared_expert_intermediate_size=2 * w,
                                       num_experts=4, num_experts_per_tok=2), lm),
        "mamba": (t.MambaConfig(hidden_size=w, state_size=8, num_hidden_layers=2, expand=2,
                                vocab_size=VOCAB), lm),
        "llama_reward": (t.LlamaConfig(**llama, num_labels=1, pad_token_id=0),
                         t.AutoModelForSequenceClassification),
    }
    return table[arch]


ARCHS = ["llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "gpt2", "gpt_neox", "opt",
         "falcon", "bloom", "bert", "roberta", "distilbert", "t5", "vit", "mixtral", "qwen2_moe", "mamba",
         "llama_reward"]

#: Output layers not named lm_head (a tied head, as in BERT or GPT-NeoX here, is not a parameter of
#: its own: the shared tensor trains as the embedding).
READOUT = {"vit": "classifier.weight", "llama_reward": "score.weight"}

PROXY = {
    "name": "hf-tiny",
    "model": {"width": 32, "base_width": 32, "depth": 2},
    "data": {"dataset_size": 1e6, "batch_size": 256, "unit": "tokens"},
    "optimizer": {"lr": 1e-2, "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": 1e-8},
    "init_std": 0.02,
}


def build(arch: str, width: int, meta: bool = False):  # noqa: ANN201
    config, auto = _config(arch, width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers.logging.set_verbosity_error()
        if meta:
            with torch.device("meta"):
                return auto.from_config(config)
        torch.manual_seed(0)
        return auto.from_config(config)


def quiet(fn, *args, **kwargs):  # noqa: ANN001, ANN201
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def models() -> dict[str, tuple]:
    return {arch: (build(arch, 64), build(arch, 32, meta=True)) for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_structure_and_base_agree(models, arch: str) -> None:
    model, base = models[arch]
    by_structure, by_base = quiet(hpt.classify, model), quiet(hpt.classify, model, base)
    assert list(by_structure) == [n for n, _ in model.named_parameters()]
    differ = {n: (by_structure[n], by_base[n]) for n in by_structure if by_structure[n] != by_base[n]}
    assert differ == {}
    if arch in READOUT:
        assert by_base[READOUT[arch]] == by_structure[READOUT[arch]] == "readout"
    elif "lm_head.weight" in by_base:
        assert by_base["lm_head.weight"] == "readout"
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = out is not None and out.weight is model.get_input_embeddings().weight
    assert tied or "readout" in by_base.values()


@pytest.mark.parametrize("arch", ARCHS)
def test_apply_init_rescales_only_what_the_plan_rescales(models, arch: str) -> None:
    model, base = models[arch]
    model = build(arch, 64)  # a fresh copy: the fixture's model stays as built
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    groups = quiet(hpt.classify, model, base)
    hpt.apply_init(model, hpscale.transfer(PROXY, width=64), base,
                   generator=torch.Generator().manual_seed(1))
    for name, p in model.named_parameters():
        if groups[name] == "vector" or name.endswith(("A_log", ".D")):
            assert torch.equal(p, before[name]), name  # biases, norm gains, SSM parameters: kept
    if arch.startswith("gemma"):  # x·(1 + w) with w = 0 at init: still 0, not 1
        norms = [p for n, p in model.named_parameters() if "norm" in n]
        assert norms and all(torch.count_nonzero(p) == 0 for p in norms)
    hidden = [n for n, g in groups.items() if g == "hidden"]
    assert hidden and all(not torch.equal(model.get_parameter(n), before[n]) for n in hidden)


def test_one_output_linear_weights(models) -> None:
    """d → 1: the reward model's score is the readout (named ``score``, found without base=);
    Qwen2-MoE's shared_expert_gate is an inner fan-in-only matrix: hidden."""
    model, base = models["llama_reward"]
    assert tuple(model.score.weight.shape) == (1, 64)
    assert quiet(hpt.classify, model)["score.weight"] == "readout"
    model, base = models["qwen2_moe"]
    for groups in (quiet(hpt.classify, model), quiet(hpt.classify, model, base)):
        assert groups["model.layers.0.mlp.shared_expert_gate.weight"] == "hidden"


@pytest.mark.parametrize("arch", ["mixtral", "qwen2_moe"])
def test_moe_routers_one_rule_with_spectrum(models, arch: str) -> None:
    model, base = models[arch]
    name = "model.layers.0.mlp.gate.weight"
    assert quiet(hpt.classify, model)[name] == quiet(hpt.classify, model, base)[name] == "hidden"
    assert hpt.spectrum(model)[name].group == "hidden"


def test_heuristic_on_fused_and_sliced_inputs(models) -> None:
    """Without base=: Phi-3's down_proj (behind the fused gate_up_proj) and Mamba's dt_proj (on a
    slice of x_proj) are hidden, not input projections; Mamba's bare A_log (d_inner × state, one
    scaled axis) is embedding-like, as base= finds: its lr is not scaled."""
    assert quiet(hpt.classify, models["phi3"][0])["model.layers.0.mlp.down_proj.weight"] == "hidden"
    groups = quiet(hpt.classify, models["mamba"][0])
    assert groups["backbone.layers.0.mixer.dt_proj.weight"] == "hidden"
    assert groups["backbone.layers.0.mixer.A_log"] == "embedding"


def test_a_base_of_the_same_width(models) -> None:
    model, _ = models["llama"]
    assert quiet(hpt.classify, model, build("llama", 64, meta=True)) == quiet(hpt.classify, model)


def test_coord_check_reads_logits() -> None:
    ids = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(0))
    check = hpt.coord_check(lambda w: build("llama", w), [32, 64], (ids, ids), plan=PROXY, steps=1)
    assert check.widths == (32, 64) and "lm_head" in check.layers()
