"""Exporters (hpscale.export): sizes and their errors, what each trainer cannot express, and
`check` reading the files back. The trainers' own parsers are in test_export_trainers.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpscale.api import load_config, transfer
from hpscale.cli import app
from hpscale.errors import InputError
from hpscale.export import FORMATS, export, read_export
from hpscale.export.common import TrainerSizes, nearest_batches, read_header
from hpscale.export.nanochat import model_dim, nanochat_lr_scale

ROOT = Path(__file__).resolve().parents[1]
LLAMA = ROOT / "configs" / "llama-mup-w256.yaml"
NANOGPT = ROOT / "configs" / "nanogpt-124m-proxy.yaml"
SIZES = ["--seq-len", "2048", "--world-size", "8", "--micro-batch", "4"]
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def llama_target():
    return transfer(load_config(LLAMA), width=1024, batch_size=2**21)


def assert_input_error(result, field: str) -> None:
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), result.stderr
    assert "Traceback" not in result.stderr


# --- sizes ------------------------------------------------------------------------------------


def test_nearest_batches_are_the_multiples_around_the_batch():
    # 2,097,152 = 42.67 × 49,152: the multiples 42 and 43 of the granule.
    assert nearest_batches(2_097_152, 49_152) == (42 * 49_152, 43 * 49_152)
    # Below one granule only the granule itself is valid.
    assert nearest_batches(100, 256) == (256,)
    assert nearest_batches(512, 256) == (512,)


def test_a_batch_that_does_not_divide_names_the_nearest_batches_and_their_kappa():
    # 2Mi tokens / (2048 tokens × 8 ranks × 3) = 42.67: valid are 42 × 49,152 = 2,064,384
    # (κ = 2,064,384 / 524,288 = 3.9375) and 43 × 49,152 = 2,113,536 (κ = 4.03125).
    result = run("transfer", str(LLAMA), "--width", "1024", "--batch-size", "2Mi", "-f", "hf",
                 "--seq-len", "2048", "--world-size", "8", "--micro-batch", "3")
    assert_input_error(result, "--batch-size")
    assert "2,064,384 (κ = 3.938)" in result.stderr and "2,113,536 (κ = 4.031)" in result.stderr


def test_the_valid_batches_named_are_accepted():
    for batch in ("2064384", "2113536"):
        result = run("transfer", str(LLAMA), "--width", "1024", "--batch-size", batch, "-f", "hf",
                     "--seq-len", "2048", "--world-size", "8", "--micro-batch", "3")
        assert result.exit_code == 0, result.stderr


# --- ramp stages laid out for Megatron-LM's step schedule -------------------------------------

NANO = Path(__file__).resolve().parents[1] / "configs" / "nanogpt-124m-proxy.yaml"
#: 4 stages from the proxy's 491,520 tokens to 3,932,160 over the first 10% of 100B tokens: with
#: 1,024-token sequences 480, 1,600, 2,720 and 3,840 sequences (tests/test_ramp.py pins them).
RAMP = ("ramp", str(NANO), "--batch-size", "3932160", "--ramp", "linear:0.1", "--dataset-size", "100B",
        "--seq-len", "1024", "-f", "megatron")


def test_a_ramp_stage_that_does_not_divide_names_the_stage_the_nearest_batches_and_their_kappa():
    # Granule 1,024 × 8 × 12 = 98,304 tokens (96 sequences): stage 1's 480 sequences divide
    # (5 × 96), stage 2's 1,600 do not (16.67 × 96): valid are 16 × 98,304 = 1,572,864 tokens
    # (κ = 1,572,864 / 491,520 = 3.2) and 17 × 98,304 = 1,671,168 (κ = 3.4).
    result = run(*RAMP, "--world-size", "8", "--micro-batch", "12")
    assert_input_error(result, "--ramp")
    assert "stage 2" in result.stderr
    assert "1,572,864 (κ = 3.2)" in result.stderr and "1,671,168 (κ = 3.4)" in result.stderr


def test_a_ramp_whose_stages_divide_writes_the_schedule():
    # 480, 1,600, 2,720, 3,840 sequences are all multiples of 8 × 4 = 32.
    result = run(*RAMP, "--world-size", "8", "--micro-batch", "4")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "0:480 2500000000:1600 5000000000:2720 7500000000:3840\n"


def test_ramp_layout_sizes_need_the_schedule():
    assert_input_error(run(*RAMP[:-4], "--world-size", "8"), "--world-size")
    assert_input_error(run(*RAMP[:-4], "--micro-batch", "4"), "--micro-batch")
    assert_input_error(run(*RAMP, "--micro-batch", "0"), "--micro-batch")


def test_tokens_need_a_sequence_length():
    assert_input_error(run("transfer", str(LLAMA), "-f", "megatron"), "--seq-len")


def test_trainer_sizes_only_with_an_exporter():
    assert_input_error(run("transfer", str(LLAMA), "--micro-batch", "4"), "--micro-batch")
    assert_input_error(run("transfer", str(LLAMA), "-f", "json", "--seq-len", "2048"), "--seq-len")


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "x", "nan"])
def test_bad_sizes_are_refused(value):
    assert_input_error(run("transfer", str(LLAMA), "-f", "hf", "--seq-len", value), "--seq-len")


def test_without_a_micro_batch_there_is_no_accumulation_and_a_note_says_so():
    exported = export(llama_target(), "hf", TrainerSizes(seq_len=2048, world_size=8))
    assert exported.fields["per_device_train_batch_size"] == 128  # 1,024 sequences / 8 ranks
    assert exported.fields["gradient_accumulation_steps"] == 1
    assert any(note.startswith("--micro-batch: not given") for note in exported.notes)


def test_steps_are_whole_and_the_rounding_is_said():
    exported = export(llama_target(), "hf", TrainerSizes(seq_len=2048, world_size=8, micro_batch=4))
    # 2e9 tokens / 2,097,152 per step = 953.67 → 954 steps, 954 × 2,097,152 = 2,000,683,008 tokens.
    assert exported.fields["max_steps"] == 954
    assert any("953.674 steps, written as 954 (2,000,683,008 tokens" in note for note in exported.notes)


# --- what a trainer cannot express --------------------------------------------------------------


def test_per_group_lrs_are_never_dropped_silently():
    result = run("transfer", str(LLAMA), "--width", "1024", "--batch-size", "2Mi", "-f", "hf", *SIZES)
    assert result.exit_code == 0, result.stderr
    # µP at m = 4: hidden lr 0.02/4 = 0.005 is TrainingArguments' one learning_rate; the others
    # stay 0.02 and need hpscale.torch's optimizer.
    assert "learning_rate: 0.005\n" in result.stdout
    line = "lr: embedding 0.02, readout 0.02, vector 0.02 (this file: 0.005, 0.005, 0.005)"
    assert line in result.stdout and line in result.stderr  # in the file and on stderr
    assert "hpscale.torch.param_groups(model, plan)" in result.stderr
    assert "multiplier: readout 0.25" in result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(notes) == len(set(notes))  # each once


def test_nothing_is_missing_when_the_trainer_can_express_everything():
    # nanoGPT proxy, batch doubled, no width change: one lr for every group, no decay on vectors,
    # no multiplier — exactly what nanoGPT does (init std aside: it is the model's).
    plan = transfer(load_config(NANOGPT), batch_size=983_040)
    exported = export(plan, "nanogpt", TrainerSizes(seq_len=1024, world_size=8, micro_batch=12))
    fields = {m.field for m in exported.missing}
    assert not any(f.endswith((".lr", ".weight_decay")) for f in fields), fields
    assert exported.fields["gradient_accumulation_steps"] == 80  # 960 sequences / 12, all ranks


def test_megatron_mup_flags_reproduce_the_per_group_lrs():
    from hpscale.export import megatron

    exported = export(llama_target(), "megatron", TrainerSizes(seq_len=2048, world_size=8, micro_batch=4))
    f = exported.fields
    assert f["--use-mup"] is True and f["--mup-base-hidden-size"] == 256 and f["--hidden-size"] == 1024
    applied = megatron.apply(f, {})
    # Megatron: hidden lr = lr / m with m = 1024/256; embedding and output layer at --decoupled-lr.
    assert applied.groups["hidden"].lr == pytest.approx(0.005, rel=1e-12)
    assert applied.groups["embedding"].lr == applied.groups["readout"].lr == pytest.approx(0.02)
    assert applied.groups["vector"].weight_decay == 0.0
    assert applied.groups["readout"].multiplier == pytest.approx(0.25)
    assert not any(m.field.endswith(".lr") for m in exported.missing)


def test_nanochat_lr_scale_by_hand():
    # √(2²¹/2¹⁹) · (1024/768)^−½ = 2 · 0.8660254 = 1.7320508
    assert nanochat_lr_scale(2**21, 1024) == pytest.approx(2 * math.sqrt(768 / 1024), rel=1e-12)
    assert nanochat_lr_scale(2**19, 768) == 1.0
    assert model_dim(20, 64, 128) == 1280  # nanochat's default d20
    exported = export(llama_target(), "nanochat", TrainerSizes(seq_len=2048, world_size=8, micro_batch=4))
    assert exported.fields["--embedding-lr"] * nanochat_lr_scale(2**21, 1024) == pytest.approx(0.02, rel=1e-12)


def test_nanochat_refuses_a_width_it_cannot_build():
    plan = transfer(load_config(LLAMA), width=1000)
    with pytest.raises(InputError, match="^--width: 1000"):
        export(plan, "nanochat", TrainerSizes(seq_len=2048))


# --- check reads the files back --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_passes_the_file_as_written(fmt, tmp_path):
    out = tmp_path / f"target.{fmt}"
    result = run("transfer", str(LLAMA), "--width", "1024", "--batch-size", "2Mi", "-f", fmt, *SIZES,
                 "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert read_header(out.read_text()).format == fmt
    checked = run("check", str(LLAMA), str(out))
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert "not checked, as this" in checked.stderr  # what the file cannot carry is said


EDITS = {  # format → (text written, edited text): the hidden lr ×1.2, or the batch halved
    "hf": ("learning_rate: 0.005\n", "learning_rate: 0.006\n"),
    "torchtitan": ("optimizer-kwargs.lr 0.005\n", "optimizer-kwargs.lr 0.006\n"),
    "megatron": ("--global-batch-size 1024\n", "--global-batch-size 512\n"),
    "nanogpt": ("learning_rate = 0.005\n", "learning_rate = 0.006\n"),
    # (nanochat's own lr rule is √(B/B_ref), as hpscale's: a halved batch would still match)
    "nanochat": ("--embedding-lr 0.01154", "--embedding-lr 0.01454"),
    "litgpt": ("    lr: 0.005\n", "    lr: 0.006\n"),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_finds_an_edit_of_the_file(fmt, tmp_path):
    out = tmp_path / f"target.{fmt}"
    run("transfer", str(LLAMA), "--width", "1024", "--batch-size", "2Mi", "-f", fmt, *SIZES, "-o", str(out))
    written, edited = EDITS[fmt]
    text = out.read_text()
    assert written in text, text
    out.write_text(text.replace(written, edited))
    checked = run("check", str(LLAMA), str(out), "-f", "json")
    assert checked.exit_code == 1, checked.stdout + checked.stderr
    import json

    findings = {f["field"] for f in json.loads(checked.stdout)["targets"][0]["findings"]}
    assert findings, checked.stdout


def test_read_export_of_an_ordinary_config_is_none():
    assert read_export(LLAMA.read_text(), str(LLAMA)) is None


def test_a_broken_export_is_an_input_error(tmp_path):
    out = tmp_path / "target.args"
    run("transfer", str(LLAMA), "--width", "1024", "--batch-size", "2Mi", "-f", "megatron", *SIZES, "-o", str(out))
    out.write_text(out.read_text().replace("--train-iters", "--train-iterz"))
    checked = run("check", str(LLAMA), str(out))
    assert checked.exit_code == 2 and checked.stdout == ""
    assert "--train-iterz: not a flag hpscale writes" in checked.stderr and "Traceback" not in checked.stderr


def test_header_is_machine_readable_and_lists_what_is_left_out():
    exported = export(llama_target(), "hf", TrainerSizes(seq_len=2048, world_size=8, micro_batch=4))
    header = read_header(exported.text)
    assert header.target["width"] == 1024 and header.sizes == {"seq_len": 2048, "world_size": 8}
    assert "param_groups.embedding.lr" in header.not_expressed
    assert set(header.not_expressed) == {m.field for m in exported.missing}


# --- units and conventions ---------------------------------------------------------------------------

VIT = ROOT / "configs" / "vit-s16-ema.yaml"


def test_a_plan_in_samples_needs_no_sequence_length_for_hf_and_says_the_ema_is_missing():
    result = run("transfer", str(VIT), "--batch-size", "4096", "-f", "hf", "--world-size", "8", "--micro-batch", "64")
    assert result.exit_code == 0, result.stderr
    assert "per_device_train_batch_size: 64\ngradient_accumulation_steps: 8\n" in result.stdout  # 4096 / (8 × 64)
    # 1,281,167 images × 300 epochs / 4,096 = 93,835.47 steps → 93,835; warmup 6,255 / κ=4 = 1,563.75 → 1,564
    assert "max_steps: 93835\n" in result.stdout and "warmup_steps: 1564\n" in result.stdout
    assert "cannot express ema_decay" in result.stderr and "AveragedModel" in result.stderr


def test_token_trainers_need_a_sequence_length_even_for_samples():
    assert_input_error(run("transfer", str(VIT), "-f", "litgpt"), "--seq-len")


def test_independent_weight_decay_is_converted_to_the_trainers_coupled_one(tmp_path):
    proxy = tmp_path / "independent.yaml"
    proxy.write_text(LLAMA.read_text().replace("weight_decay: 0.1\n  weight_decay_convention: coupled",
                                               "weight_decay: 0.001\n  weight_decay_convention: independent"))
    plan = transfer(load_config(proxy))  # at the proxy's own scale
    assert plan.convention == "independent"
    exported = export(plan, "litgpt", TrainerSizes(seq_len=2048, world_size=1))
    # λ_coupled = λ_ind / η = 0.001 / 0.01 = 0.1 (torch.optim.AdamW's convention)
    assert exported.fields["optimizer"]["init_args"]["weight_decay"] == pytest.approx(0.1, rel=1e-12)
    checked = run("check", str(proxy), str(_write(tmp_path / "t.yaml", exported.text)))
    assert checked.exit_code == 0, checked.stdout + checked.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- ladder ---------------------------------------------------------------------------------------


def test_ladder_writes_one_checked_file_per_target(tmp_path):
    pattern = str(tmp_path / "w{width}.args")
    result = run("ladder", str(LLAMA), "--widths", "512,1024", "--batch-sizes", "1Mi,2Mi", "-f", "megatron",
                 *SIZES, "-o", pattern)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    files = sorted(tmp_path.glob("w*.args"))
    assert [f.name for f in files] == ["w1024.args", "w512.args"]
    assert "--hidden-size 512\n" in files[1].read_text() and "--global-batch-size 512\n" in files[1].read_text()
    checked = run("check", str(LLAMA), *map(str, files))
    assert checked.exit_code == 0, checked.stdout + checked.stderr


def test_ladder_export_needs_a_pattern_and_writes_nothing_on_error(tmp_path):
    assert_input_error(run("ladder", str(LLAMA), "--widths", "512,1024", "-f", "hf", *SIZES), "--output")
    assert_input_error(run("ladder", str(LLAMA), "--widths", "512,1024", "-f", "hf", *SIZES,
                           "-o", str(tmp_path / "one.yaml")), "--output")
    # the second row's batch does not divide: no file of the first row is left behind
    result = run("ladder", str(LLAMA), "--widths", "512,1024", "--batch-sizes", "2Mi,3M", "-f", "hf", *SIZES,
                 "-o", str(tmp_path / "{row}.yaml"))
    assert_input_error(result, "target 2")
    assert list(tmp_path.iterdir()) == []
