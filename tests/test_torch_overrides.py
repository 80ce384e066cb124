"""Per-group overrides as name lists, without PyTorch: hpscale.plan and ``transfer --format overrides``.

Only the last test needs PyTorch (it checks the CLI's output against ``hpscale.torch.overrides``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hpscale
from hpscale.cli import app
from hpscale.errors import InputError
from hpscale.plan import name_groups, overrides_json, parse_names, read_plan

ROOT = Path(__file__).resolve().parents[1]
LLAMA = str(ROOT / "configs" / "llama-mup-w256.yaml")

NANOGPT_NAMES = """\
# model.named_parameters() of a 1-block nanoGPT (lm_head is tied to wte)
transformer.wte.weight (50304, 768)
transformer.wpe.weight (1024, 768)
transformer.h.0.ln_1.weight (768,)
transformer.h.0.attn.c_attn.weight (2304, 768)
transformer.h.0.attn.c_attn.bias (2304,)
transformer.h.0.mlp.c_proj.weight (768, 3072)
transformer.ln_f.weight (768,)
"""


def test_parse_names_with_and_without_shapes():
    entries = parse_names(NANOGPT_NAMES + "blocks.0.gain\ttorch.Size([768])\nhead.weight 10x768\n", "names.txt")
    assert entries[0] == ("transformer.wte.weight", (50304, 768))
    assert entries[-2:] == [("blocks.0.gain", (768,)), ("head.weight", (10, 768))]
    assert parse_names("a.weight\n\nb.bias\n", "n")[1] == ("b.bias", None)
    with pytest.raises(InputError, match=r"names.txt: line 3: 'a' is listed twice \(first on line 1\)"):
        parse_names("a\nb\na\n", "names.txt")
    with pytest.raises(InputError, match="no parameter names"):
        parse_names("# nothing\n\n", "names.txt")


def test_name_groups_follow_the_spectrum_patterns_and_warn():
    groups, warnings = name_groups(parse_names(NANOGPT_NAMES, "n"))
    assert groups == {
        "transformer.wte.weight": "embedding", "transformer.wpe.weight": "embedding",
        "transformer.h.0.ln_1.weight": "vector", "transformer.h.0.attn.c_attn.weight": "hidden",
        "transformer.h.0.attn.c_attn.bias": "vector", "transformer.h.0.mlp.c_proj.weight": "hidden",
        "transformer.ln_f.weight": "vector",
    }
    assert warnings == ["no output layer among the names (lm_head, output, head, classifier, …): if it is "
                        "tied to the input embedding it trains with the embedding group, and the readout "
                        "multiplier must go into the model's forward pass"]
    groups, warnings = name_groups([("lm_head.weight", None), ("blocks.0.mixer.weight", (64, 64))])
    assert groups == {"lm_head.weight": "readout", "blocks.0.mixer.weight": "hidden"}
    assert warnings == ["1 name(s) match no known pattern and are taken as hidden matrices: blocks.0.mixer.weight"]


def test_overrides_json_carries_the_plan_in_the_coupled_convention():
    proxy = {"model": {"width": 256}, "data": {"dataset_size": 1e9, "batch_size": 5e5},
             "optimizer": {"lr": 1e-2, "weight_decay": 1e-3, "weight_decay_convention": "independent"},
             "init_std": 0.02}
    result = hpscale.transfer(proxy, width=1024)
    obj = overrides_json(result, parse_names(NANOGPT_NAMES + "lm_head.weight\n", "n"))
    json.dumps(obj, allow_nan=False)
    assert [g["hpscale_group"] for g in obj["overrides"]] == ["embedding", "hidden", "readout", "vector"]
    hidden = obj["overrides"][1]
    assert hidden["params"] == ["transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_proj.weight"]
    # The plan is in the independent convention; overrides are for torch: λ = λ_ind/η per group.
    plan = result.to_json_dict()["optimizer_groups"]["hidden"]
    assert hidden["lr"] == plan["lr"] == 0.0025
    assert hidden["weight_decay"] == pytest.approx(plan["weight_decay"] / plan["lr"])
    assert obj["weight_decay_convention"] == "coupled" and obj["model_groups"]["readout"]["multiplier"] == 0.25
    assert read_plan(result).optimizer["hidden"].weight_decay == pytest.approx(hidden["weight_decay"])


def test_cli_format_overrides(tmp_path):
    from typer.testing import CliRunner

    runner = CliRunner()
    names = tmp_path / "names.txt"
    names.write_text(NANOGPT_NAMES)
    result = runner.invoke(app, ["transfer", LLAMA, "--width", "1024", "-f", "overrides", "--model-names", str(names)])
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj == overrides_json(hpscale.transfer(LLAMA, width=1024), parse_names(NANOGPT_NAMES, "n"))
    assert result.stderr.startswith("warning: no output layer among the names")
    out = tmp_path / "overrides.json"
    result = runner.invoke(app, ["transfer", LLAMA, "-f", "overrides", "--model-names", str(names), "-o", str(out)])
    assert result.exit_code == 0 and result.stdout == "" and json.loads(out.read_text())["schema_version"] == 1
    for args, message in [
        (["-f", "overrides"], "error: --model-names: --format overrides needs the model's parameter names"),
        (["--model-names", str(names)], "error: --model-names: only used with --format overrides"),
        (["-f", "overrides", "--model-names", str(tmp_path / "missing.txt")], "missing.txt: no such file"),
    ]:
        result = runner.invoke(app, ["transfer", LLAMA, *args])
        assert result.exit_code == 2 and result.stdout == "" and message in result.stderr, result.stderr


def test_model_names_from_a_checkpoint(tmp_path):
    np = pytest.importorskip("numpy")
    from hpscale.plan import read_model_names

    path = tmp_path / "model.npz"
    np.savez(path, **{"embed_tokens.weight": np.zeros((50, 8), np.float32),
                      "layers.0.self_attn.q_proj.weight": np.zeros((8, 8), np.float32),
                      "norm.weight": np.ones(8, np.float32)})
    assert read_model_names(path) == [("embed_tokens.weight", (50, 8)),
                                      ("layers.0.self_attn.q_proj.weight", (8, 8)), ("norm.weight", (8,))]


def test_model_names_from_a_model_directory(tmp_path):
    """A Hugging Face model directory (what `hpscale spectrum DIR` accepts) gives its tensor names
    and shapes from the checkpoint headers (issue 17, item 8)."""
    np = pytest.importorskip("numpy")
    from spectrum_fixtures import write_safetensors
    from typer.testing import CliRunner

    from hpscale.plan import read_model_names

    model = tmp_path / "llama"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    write_safetensors(model / "model.safetensors", {
        "model.embed_tokens.weight": np.zeros((50, 8), np.float32),
        "model.layers.0.self_attn.q_proj.weight": np.zeros((8, 8), np.float32),
        "model.norm.weight": np.ones(8, np.float32), "lm_head.weight": np.zeros((50, 8), np.float32)})
    entries = read_model_names(model)
    assert sorted(entries) == [("lm_head.weight", (50, 8)), ("model.embed_tokens.weight", (50, 8)),
                               ("model.layers.0.self_attn.q_proj.weight", (8, 8)), ("model.norm.weight", (8,))]
    runner = CliRunner()
    result = runner.invoke(app, ["transfer", LLAMA, "--width", "1024", "-f", "overrides", "--model-names", str(model)])
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    assert {g["hpscale_group"]: g["params"] for g in obj["overrides"]}["readout"] == ["lm_head.weight"]
    assert obj == overrides_json(hpscale.transfer(LLAMA, width=1024), entries)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["transfer", LLAMA, "-f", "overrides", "--model-names", str(empty)])
    assert result.exit_code == 2 and result.stdout == "", result.stderr
    assert result.stderr.count("\n") == 1 and "empty" in result.stderr and "Traceback" not in result.stderr
    assert "a model directory needs" in result.stderr  # read as a directory, not as a names file


def test_overrides_json_matches_hpscale_torch(monkeypatch):
    torch = pytest.importorskip("torch", reason="compares with hpscale.torch (pip install 'hpscale[torch]')")
    from torch import nn

    import hpscale.torch as hpt

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    model = nn.ModuleDict({"wte": nn.Embedding(50, 32), "blocks": nn.ModuleList(
        nn.ModuleDict({"ln": nn.LayerNorm(32), "qkv": nn.Linear(32, 96)}) for _ in range(2)),
        "lm_head": nn.Linear(32, 50, bias=False)})
    result = hpscale.transfer("configs/llama-mup-w256.yaml", width=1024)
    names = "\n".join(f"{n} {tuple(p.shape)}" for n, p in model.named_parameters())
    obj = overrides_json(result, parse_names(names, "names"))
    assert obj["overrides"] == hpt.overrides(model, result)
    assert torch.is_tensor(hpt.param_groups(model, result)[0]["params"][0])
    # a reward model's score, d → 1: the readout by name and shape, as hpscale.torch finds it
    reward = nn.ModuleDict({"wte": nn.Embedding(50, 32), "mlp": nn.Linear(32, 32), "score": nn.Linear(32, 1, bias=False)})
    names = "\n".join(f"{n} {tuple(p.shape)}" for n, p in reward.named_parameters())
    obj = overrides_json(result, parse_names(names, "names"))
    assert {g["hpscale_group"]: g["params"] for g in obj["overrides"]}["readout"] == ["score.weight"]
    assert obj["overrides"] == hpt.overrides(reward, result)


def test_model_names_not_a_file_names_what_was_expected(tmp_path):
    """A FIFO as --model-names: one line naming a names file or checkpoint, not a bare "names"."""
    import os

    from typer.testing import CliRunner

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs os.mkfifo (POSIX)")
    fifo = tmp_path / "names"
    os.mkfifo(fifo)
    result = CliRunner().invoke(app, ["transfer", LLAMA, "-f", "overrides", "--model-names", str(fifo)])
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert "expected a names file" in result.stderr and "Traceback" not in result.stderr
