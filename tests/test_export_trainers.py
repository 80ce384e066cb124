"""Every exporter's file parsed by its trainer's own code, values read back = the plan's.

Installable trainers (one test extra each: `trainer-hf` = transformers + accelerate,
`trainer-torchtitan`, `trainer-litgpt`) are parsed with their real parsers and skip with the
reason where absent — except in the trainer's own CI job, which names it in
``HPSCALE_REQUIRE_TRAINER`` so that a missing trainer fails instead of skipping. Megatron-LM's training
flags live outside the megatron-core package, nanoGPT and nanochat are scripts, not packages:
their files are expanded by bash (the shell array as a launch script passes it) and parsed by
argparse / exec with the names and types read from their source, cited per table.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpscale.api import load_config, transfer
from hpscale.cli import app

ROOT = Path(__file__).resolve().parents[1]
LLAMA = ROOT / "configs" / "llama-mup-w256.yaml"
NANOGPT = ROOT / "configs" / "nanogpt-124m-proxy.yaml"
HYBRID = ROOT / "configs" / "nanochat-hybrid.yaml"
runner = CliRunner()

#: The extras whose trainers must be importable (.ci/run's trainer jobs set it): a job that
#: skipped its own trainer would be green having tested nothing.
REQUIRED = set(filter(None, os.environ.get("HPSCALE_REQUIRE_TRAINER", "").split(",")))


def require(module: str, extra: str):
    """Import a trainer's module, or skip naming its extra (fail where the job requires it)."""
    if extra in REQUIRED:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed (the trainer-{extra} extra)")

#: (proxy, transfer options, trainer sizes): a µP width and batch transfer; a batch transfer
#: of nanoGPT's GPT-2 with its warmup (2,000 steps at κ = 2 → 1,000).
CASES = {
    "llama-mup": (LLAMA, {"width": 1024, "batch_size": 2**21}, {"seq_len": 2048, "world_size": 8, "micro_batch": 4}),
    "nanogpt-batch": (NANOGPT, {"batch_size": 983_040}, {"seq_len": 1024, "world_size": 8, "micro_batch": 12}),
}
#: A hybrid (Muon + AdamW) proxy, for the trainers with a Muon option: 2× wider and deeper,
#: 2× batch, 10× data.
HYBRID_CASES = {
    "nanochat-hybrid": (HYBRID, {"width": 1536, "depth": 24, "batch_size": 2**20, "dataset_size": 10**10},
                        {"seq_len": 2048, "world_size": 8, "micro_batch": 8}),
}


def export_file(tmp_path: Path, fmt: str, case: str) -> tuple[Path, dict]:
    proxy, options, sizes = {**CASES, **HYBRID_CASES}[case]
    args = ["transfer", str(proxy), "-f", fmt, "-o", str(tmp_path / f"{case}.{fmt}")]
    for key in ("width", "depth", "dataset_size"):
        if key in options:
            args += [f"--{key.replace('_', '-')}", str(options[key])]
    args += ["--batch-size", str(options["batch_size"])]
    args += ["--seq-len", str(sizes["seq_len"]), "--world-size", str(sizes["world_size"]),
             "--micro-batch", str(sizes["micro_batch"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    plan = transfer(load_config(proxy), **options).to_json_dict()
    plan["sizes"] = sizes
    return tmp_path / f"{case}.{fmt}", plan


def hidden(plan: dict, key: str) -> float:
    return plan["param_groups"]["hidden"][key]


def sequences(plan: dict) -> int:
    return plan["target"]["batch_size"] // plan["sizes"]["seq_len"]


def steps(plan: dict) -> int:
    return round(plan["target"]["total_steps"])


def bash_words(path: Path, name: str) -> list[str]:
    """The array as a launch script passes it: ``source FILE; cmd "${NAME[@]}"``."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    out = subprocess.run(["bash", "-c", f'source "$1"; printf "%s\\0" "${{{name}[@]}}"', "_", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return out.split("\0")[:-1]


def same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12)


# --- Hugging Face: HfArgumentParser(TrainingArguments).parse_yaml_file -------------------------


@pytest.mark.parametrize("case", CASES)
def test_hf_training_arguments(case, tmp_path):
    transformers = require("transformers", "hf")
    require("accelerate", "hf")  # TrainingArguments needs it
    path, plan = export_file(tmp_path, "hf", case)
    (args,) = transformers.HfArgumentParser(transformers.TrainingArguments).parse_yaml_file(str(path))
    world = plan["sizes"]["world_size"]
    assert args.per_device_train_batch_size == plan["sizes"]["micro_batch"]
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * world == sequences(plan)
    assert args.max_steps == steps(plan)
    assert args.warmup_steps == (plan["warmup_steps"] or 0)
    assert same(args.learning_rate, hidden(plan, "lr"))
    assert same(args.weight_decay, hidden(plan, "weight_decay"))  # both coupled
    assert [args.adam_beta1, args.adam_beta2] == plan["optimizer"]["betas"]
    assert same(args.adam_epsilon, hidden(plan, "eps"))
    assert str(args.optim.value if hasattr(args.optim, "value") else args.optim) == "adamw_torch"


# --- torchtitan 0.3: ConfigManager.parse_args (tyro) over a shipped config function --------------


@pytest.mark.parametrize("case", CASES)
def test_torchtitan_config_manager(case, tmp_path):
    manager = require("torchtitan.config.manager", "torchtitan")
    path, plan = export_file(tmp_path, "torchtitan", case)
    words = bash_words(path, "TORCHTITAN_ARGS")
    try:
        config = manager.ConfigManager().parse_args(["--module", "llama3", "--config", "llama3_debugmodel", *words])
    except ImportError as exc:  # its model registry imports triton and pyarrow (numpy ≥ 2)
        if "torchtitan" in REQUIRED:
            raise
        pytest.skip(f"torchtitan's llama3 config cannot be imported here: {exc}")
    t = config.training
    assert (t.local_batch_size, t.global_batch_size, t.seq_len, t.steps) == (
        plan["sizes"]["micro_batch"], sequences(plan), plan["sizes"]["seq_len"], steps(plan))
    assert config.lr_scheduler.warmup_steps == (plan["warmup_steps"] or 0)
    kwargs = config.optimizer.param_groups[0].optimizer_kwargs
    assert config.optimizer.param_groups[0].pattern == ".*"  # one group: every parameter
    assert same(kwargs["lr"], hidden(plan, "lr")) and same(kwargs["weight_decay"], hidden(plan, "weight_decay"))
    assert same(kwargs["eps"], hidden(plan, "eps")) and list(kwargs["betas"]) == plan["optimizer"]["betas"]


# --- LitGPT: jsonargparse over litgpt.pretrain.setup, as `litgpt pretrain --config` -------------


@pytest.mark.parametrize("case", CASES)
def test_litgpt_pretrain_config(case, tmp_path):
    pretrain = require("litgpt.pretrain", "litgpt")
    jsonargparse = require("jsonargparse", "litgpt")
    path, plan = export_file(tmp_path, "litgpt", case)
    parser = jsonargparse.ArgumentParser()
    parser.add_argument("--config", action=jsonargparse.ActionConfigFile)
    parser.add_function_arguments(pretrain.setup)
    cfg = parser.parse_args(["--config", str(path), "--model_name", "pythia-14m"])
    train = parser.instantiate(cfg).train if hasattr(parser, "instantiate") else parser.instantiate_classes(cfg).train
    pretrain.validate_args(train, pretrain.EvalArgs(), None, False)  # max_steps refused, max_tokens needed
    devices = cfg.devices
    assert devices == plan["sizes"]["world_size"] and cfg.num_nodes == 1
    assert train.global_batch_size == sequences(plan) and train.micro_batch_size == plan["sizes"]["micro_batch"]
    # litgpt.args.TrainArgs.gradient_accumulation_iters: global / devices / micro
    assert train.gradient_accumulation_iters(devices, 1) * devices * train.micro_batch_size == sequences(plan)
    # pretrain.fit: micro-iterations = max_tokens / devices // (micro × seq); steps = those / accumulation
    micro_iters = train.max_tokens // devices // (train.micro_batch_size * train.max_seq_length)
    assert micro_iters // train.gradient_accumulation_iters(devices, 1) == steps(plan)
    assert train.lr_warmup_steps == (plan["warmup_steps"] or 0)
    init = cfg.optimizer["init_args"]
    assert cfg.optimizer["class_path"] == "torch.optim.AdamW"
    assert same(init["lr"], hidden(plan, "lr")) and same(init["weight_decay"], hidden(plan, "weight_decay"))
    assert same(init["eps"], hidden(plan, "eps")) and list(init["betas"]) == plan["optimizer"]["betas"]


# --- Megatron-LM: argparse with the flags' names and types from its source ----------------------

#: NVIDIA/Megatron-LM at d98e8a64ddf34856e74b24714e3bedb2f5a39553. megatron/training/arguments.py:
#: _add_regularization_args (--weight-decay, --adam-beta1/2, --adam-eps: float),
#: _add_learning_rate_args (--lr, --decoupled-lr: float), _add_data_args (--seq-length: int).
#: Flags generated by ArgumentGroupFactory (megatron/training/argument_utils.py: `--` + field
#: name with `_` → `-`; a bool defaulting to False is store_true) from
#: megatron/training/config/training_config.py (TrainingConfig: micro_batch_size,
#: global_batch_size, train_iters: int | None; SchedulerConfig: lr_warmup_iters: int = 0) and
#: megatron/core/transformer/transformer_config.py (hidden_size, num_layers: int;
#: init_method_std: float; embedding_init_method_std: Optional[float]; use_mup: bool;
#: mup_base_hidden_size: Optional[int]; mup_output_mult: float). Muon: _add_training_args
#: (--optimizer: str, choices include muon), _add_regularization_args (--muon-momentum,
#: --muon-extra-scale-factor: float; --muon-scale-mode: str, choices spectral, unit_rms_norm,
#: shape_scaling; --muon-nesterov: store_true).
MEGATRON_FLAGS = {
    "--weight-decay": float, "--adam-beta1": float, "--adam-beta2": float, "--adam-eps": float,
    "--lr": float, "--decoupled-lr": float, "--seq-length": int,
    "--micro-batch-size": int, "--global-batch-size": int, "--train-iters": int, "--lr-warmup-iters": int,
    "--hidden-size": int, "--num-layers": int, "--init-method-std": float, "--embedding-init-method-std": float,
    "--use-mup": bool, "--mup-base-hidden-size": int, "--mup-output-mult": float,
    "--optimizer": str, "--muon-momentum": float, "--muon-extra-scale-factor": float, "--muon-scale-mode": str,
    "--muon-nesterov": bool,
}


def megatron_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    for flag, kind in MEGATRON_FLAGS.items():
        if kind is bool:
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=kind)
    return parser


@pytest.mark.parametrize("case", CASES)
def test_megatron_flags(case, tmp_path):
    path, plan = export_file(tmp_path, "megatron", case)
    args, unknown = megatron_parser().parse_known_args(bash_words(path, "MEGATRON_ARGS"))
    assert unknown == [], "flags Megatron-LM does not define"
    assert args.seq_length == plan["sizes"]["seq_len"] and args.micro_batch_size == plan["sizes"]["micro_batch"]
    assert args.global_batch_size == sequences(plan) and args.train_iters == steps(plan)
    assert (args.lr_warmup_iters or 0) == (plan["warmup_steps"] or 0)
    assert args.hidden_size == plan["target"]["width"] and args.num_layers == plan["target"]["depth"]
    g = plan["param_groups"]
    # megatron/core/optimizer/__init__.py get_mup_config_overrides: hidden lr = lr / m,
    # m = hidden_size / mup_base_hidden_size; --decoupled-lr sets embedding and output layer.
    m = args.hidden_size / args.mup_base_hidden_size if args.use_mup else 1.0
    assert same(args.lr / m, g["hidden"]["lr"])
    assert same(args.decoupled_lr if args.decoupled_lr is not None else args.lr, g["embedding"]["lr"])
    assert same(args.weight_decay, g["hidden"]["weight_decay"])
    assert [args.adam_beta1, args.adam_beta2] == plan["optimizer"]["betas"]
    if args.use_mup:
        assert args.mup_base_hidden_size == 256 and same(args.mup_output_mult, g["readout"]["multiplier"])
        assert same(args.init_method_std / math.sqrt(m), g["hidden"]["init_std"])


@pytest.mark.parametrize("case", HYBRID_CASES)
def test_megatron_muon_flags(case, tmp_path):
    path, plan = export_file(tmp_path, "megatron", case)
    args, unknown = megatron_parser().parse_known_args(bash_words(path, "MEGATRON_ARGS"))
    assert unknown == [], "flags Megatron-LM does not define"
    g, muon = plan["param_groups"], plan["optimizer_groups"]["hidden"]
    assert args.optimizer == "muon" and args.muon_scale_mode == "shape_scaling"  # the proxy's original
    # emerging_optimizers.py TensorParallelMuon: step = lr · extra · s(A, B) · O; mixin.py
    # _apply_weight_decay_inplace (decoupled): p ← p − lr·λ·p, with --lr and --weight-decay.
    assert same(args.lr * args.muon_extra_scale_factor, g["hidden"]["lr"])
    assert same(args.lr * args.weight_decay, g["hidden"]["lr"] * g["hidden"]["weight_decay"])
    assert args.muon_momentum == muon["momentum"] and args.muon_nesterov == muon["nesterov"]
    assert same(args.lr, g["vector"]["lr"])  # the Adam base; µP leaves Muon's matrices at --lr


def test_megatron_table_tells_a_flag_not_in_the_source():
    assert megatron_parser().parse_known_args(["--train-iterz", "3"])[1] == ["--train-iterz", "3"]


#: Megatron-LM's step-wise batch schedule, as megatron/core/num_microbatches_calculator.py
#: (StepBatchsizeNumMicroBatchesCalculator: _parse_numeric_value, _parse_schedule,
#: _validate_schedule, _get_batch_size_for_samples, update) states it; hpscale/core/ramp.py
#: cites the file at d98e8a64ddf34856e74b24714e3bedb2f5a39553. Entries "THRESHOLD:BATCH"
#: split on spaces or commas, K/M/B/T suffixes ×1e3/1e6/1e9/1e12, thresholds tokens floor-divided
#: by --seq-length into samples, sorted; the first 0, the rest strictly increasing, batches > 0;
#: the batch in force after S consumed samples is the last entry with threshold ≤ S, and it must
#: divide micro-batch × data-parallel size while it runs.
_SUFFIX = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def megatron_schedule(text: str, seq_length: int) -> list[tuple[int, int]]:
    def number(word: str) -> int:
        word = word.strip().upper()
        scale = _SUFFIX.get(word[-1:], 1)
        return int(float(word[:-1] if scale > 1 else word) * scale)

    entries = [entry.split(":", 1) for entry in text.replace(",", " ").split()]
    schedule = sorted((number(t) // seq_length, number(b)) for t, b in entries)
    assert schedule and schedule[0][0] == 0
    assert all(a[0] < b[0] for a, b in zip(schedule, schedule[1:], strict=False)) and all(b > 0 for _, b in schedule)
    return schedule


def megatron_batch_at(schedule: list[tuple[int, int]], samples: int) -> int:
    return [batch for threshold, batch in schedule if threshold <= samples][-1]


def test_megatron_reads_the_ramp_schedule_as_the_plan_stages():
    import json

    args = ["ramp", str(NANOGPT), "--batch-size", "3932160", "--ramp", "stages:0=491520,5B=983040,10B=1966080,20B=3932160",
            "--dataset-size", "100B", "--seq-len", "1024", "--world-size", "8", "--micro-batch", "4", "-f", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    schedule = megatron_schedule(obj["megatron_step_batch_size_schedule"], 1024)
    assert len(schedule) == len(obj["stages"])
    for previous, stage in zip([None, *obj["stages"]], obj["stages"], strict=False):
        start = int(stage["start"]) // 1024
        assert megatron_batch_at(schedule, start) * 1024 == stage["batch_size"]
        assert megatron_batch_at(schedule, start) % (8 * 4) == 0
        if previous is not None:
            assert megatron_batch_at(schedule, start - 1) * 1024 == previous["batch_size"]


# --- nanoGPT: the config file exec'd over train.py's globals --------------------------------------

#: karpathy/nanoGPT at 3adf61e154c3fe3fca428ad6bc3818b27a3b8291, train.py lines 34-74: the
#: globals a config file overrides and their defaults (configurator.py keeps each type).
NANOGPT_GLOBALS = {
    "out_dir": "out", "eval_interval": 2000, "log_interval": 1, "eval_iters": 200, "eval_only": False,
    "always_save_checkpoint": True, "init_from": "scratch", "wandb_log": False, "wandb_project": "owt",
    "wandb_run_name": "gpt2", "dataset": "openwebtext", "gradient_accumulation_steps": 40, "batch_size": 12,
    "block_size": 1024, "n_layer": 12, "n_head": 12, "n_embd": 768, "dropout": 0.0, "bias": False,
    "learning_rate": 6e-4, "max_iters": 600000, "weight_decay": 1e-1, "beta1": 0.9, "beta2": 0.95,
    "grad_clip": 1.0, "decay_lr": True, "warmup_iters": 2000, "lr_decay_iters": 600000, "min_lr": 6e-5,
    "backend": "nccl", "device": "cuda", "dtype": "bfloat16", "compile": True,
}


@pytest.mark.parametrize("case", CASES)
def test_nanogpt_config_file(case, tmp_path):
    path, plan = export_file(tmp_path, "nanogpt", case)
    namespace = dict(NANOGPT_GLOBALS)
    exec(compile(path.read_text(), str(path), "exec"), {}, namespace)  # as configurator.py does
    assert set(namespace) == set(NANOGPT_GLOBALS), "the file sets a name train.py does not have"
    for name, default in NANOGPT_GLOBALS.items():
        assert type(namespace[name]) is type(default), name
    v = namespace
    world = plan["sizes"]["world_size"]
    assert v["gradient_accumulation_steps"] % world == 0  # train.py line 94
    # train.py line 101: tokens_per_iter = accumulation/world × world × batch_size × block_size
    assert v["gradient_accumulation_steps"] * v["batch_size"] * v["block_size"] == plan["target"]["batch_size"]
    assert v["max_iters"] == v["lr_decay_iters"] == steps(plan)
    assert v["warmup_iters"] == (plan["warmup_steps"] or 0)
    assert same(v["learning_rate"], hidden(plan, "lr")) and same(v["weight_decay"], hidden(plan, "weight_decay"))
    assert [v["beta1"], v["beta2"]] == plan["optimizer"]["betas"]
    assert v["n_embd"] == plan["target"]["width"] and v["n_layer"] == plan["target"]["depth"]


# --- nanochat: scripts/base_train.py's argparse flags ---------------------------------------------

#: karpathy/nanochat at 92d63d4e8bb4df75c3b71618f31ddde2378b2bcd, scripts/base_train.py lines 50-69.
NANOCHAT_FLAGS = {
    "--depth": (int, 20), "--aspect-ratio": (int, 64), "--head-dim": (int, 128), "--max-seq-len": (int, 2048),
    "--num-iterations": (int, -1), "--device-batch-size": (int, 32), "--total-batch-size": (int, -1),
    "--embedding-lr": (float, 0.3), "--unembedding-lr": (float, 0.008), "--weight-decay": (float, 0.28),
    "--matrix-lr": (float, 0.02), "--scalar-lr": (float, 0.5), "--warmup-steps": (int, 40),
}


def nanochat_args(path: Path) -> argparse.Namespace:
    """The file's array as base_train.py's argparse reads it (unknown flags fail)."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    for flag, (kind, default) in NANOCHAT_FLAGS.items():
        parser.add_argument(flag, type=kind, default=default)
    a, unknown = parser.parse_known_args(bash_words(path, "NANOCHAT_ARGS"))
    assert unknown == [], "flags base_train.py does not define"
    return a


@pytest.mark.parametrize("case", CASES)
def test_nanochat_flags(case, tmp_path):
    path, plan = export_file(tmp_path, "nanochat", case)
    a = nanochat_args(path)
    # base_train.py build_model_meta: model_dim = ceil(depth × aspect / head_dim) × head_dim
    model_dim = -(-(a.depth * a.aspect_ratio) // a.head_dim) * a.head_dim
    assert model_dim == plan["target"]["width"] and a.depth == plan["target"]["depth"]
    tokens_per_fwdbwd = a.device_batch_size * a.max_seq_len * plan["sizes"]["world_size"]
    assert a.total_batch_size == plan["target"]["batch_size"] and a.total_batch_size % tokens_per_fwdbwd == 0
    assert a.num_iterations == steps(plan) and a.warmup_steps == (plan["warmup_steps"] or 0)
    # base_train.py: batch_lr_scale = √(B / 2¹⁹); gpt.py setup_optimizer: dmodel_lr_scale = (W/768)^−½
    scale = math.sqrt(a.total_batch_size / 2**19) * (model_dim / 768) ** -0.5
    assert same(a.embedding_lr * scale, plan["param_groups"]["embedding"]["lr"])
    assert same(a.unembedding_lr * scale, plan["param_groups"]["readout"]["lr"])


@pytest.mark.parametrize("case", HYBRID_CASES)
def test_nanochat_muon_flags(case, tmp_path):
    path, plan = export_file(tmp_path, "nanochat", case)
    a = nanochat_args(path)
    hidden = plan["param_groups"]["hidden"]
    # base_train.py: setup_optimizer(matrix_lr=matrix_lr × √(B/2¹⁹)); optim.py _compute_muon
    # multiplies it by √max(1, A/B) (original, the proxy's convention).
    assert same(a.matrix_lr * math.sqrt(a.total_batch_size / 2**19), hidden["lr"])
    # weight_decay_scaled = weight_decay · √(B/2¹⁹) · D_REF/target_tokens: d12 (aspect 64, width
    # 768) has 110,100,912 scaling parameters, this d24 at width 1536 729,810,624 (gpt.py
    # num_scaling_params: 12·L·W² + ve_gate + lm_head with nanochat's 32,768-token vocabulary).
    scaled = a.weight_decay * math.sqrt(a.total_batch_size / 2**19) * 110_100_912 / 729_810_624
    assert same(scaled, hidden["weight_decay"])


# --- the docs' recipe: TrainingArguments from the file, per-group values from hpscale.torch -------


def test_hf_trainer_with_hpscale_torch_optimizer(tmp_path):
    """docs/export.md's Hugging Face recipe with a real Trainer: two steps on CPU, each group
    scheduled from its own planned peak lr."""
    torch = pytest.importorskip("torch")
    transformers = require("transformers", "hf")
    require("accelerate", "hf")  # TrainingArguments needs it
    import hpscale.torch as hpt

    path, _ = export_file(tmp_path, "hf", "llama-mup")
    plan = transfer(load_config(LLAMA), width=1024, batch_size=2**21)
    (args,) = transformers.HfArgumentParser(transformers.TrainingArguments).parse_yaml_file(str(path))
    args.max_steps, args.output_dir, args.report_to, args.use_cpu = 2, str(tmp_path / "out"), [], True
    args.per_device_train_batch_size, args.gradient_accumulation_steps = 2, 1  # a CPU-sized step

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(16, 1024)
            self.mlp = torch.nn.Linear(1024, 1024)
            self.norm = torch.nn.LayerNorm(1024)
            self.lm_head = torch.nn.Linear(1024, 16, bias=False)

        def forward(self, input_ids, labels):
            logits = self.lm_head(self.norm(self.mlp(self.embed(input_ids))))
            return {"loss": torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())}

    model = Tiny()
    hpt.apply_init(model, plan)
    handles = hpt.apply_multipliers(model, plan)
    optimizer = torch.optim.AdamW(hpt.param_groups(model, plan))
    data = [{"input_ids": torch.arange(8) % 16, "labels": (torch.arange(8) + 1) % 16} for _ in range(4)]
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, optimizers=(optimizer, None))
    trainer.train()
    planned = {name: g.lr.target for name, g in plan.groups.items()}
    peaks = {group["hpscale_group"]: group["initial_lr"] for group in trainer.optimizer.param_groups}
    assert set(peaks) == {"embedding", "hidden", "readout", "vector"}
    assert all(same(peaks[name], planned[name]) for name in peaks), (peaks, planned)
    assert peaks["hidden"] == pytest.approx(peaks["embedding"] / 4)  # µP at m = 4, kept by the schedule
    for handle in handles:
        handle.remove()
