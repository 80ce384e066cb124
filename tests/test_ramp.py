"""``hpscale ramp``: stages (linear, explicit), one transfer per stage, Megatron-LM's schedule
string, the critical-batch flag and bad input. Expected values computed by hand from the
nanoGPT proxy (B = 491,520 tokens, η = 6e-4, β = (0.9, 0.95), ε = 1e-8, warmup 2000)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.core import ramp as RP
from hpscale.core.compose import read_proxy, transfer_from
from hpscale.core.rules import RuleChoices
from hpscale.core.scale import Scale
from hpscale.errors import InputError
from hpscale.loader import load_config

NANO = "configs/nanogpt-124m-proxy.yaml"
VIT = "configs/vit-s16-ema.yaml"
B0 = 491_520


def run(*args: str):
    return CliRunner().invoke(app, ["ramp", *args])


class TestStages:
    def test_linear_staircase(self):
        # K = 4 over F = 0.1 of 100B: starts 0, 2.5B, 5B, 7.5B; batches B0 + (8B0 − B0)·i/3
        stages = RP.linear_stages(B0, 8 * B0, 0.1, 4, 100e9)
        assert [s.start for s in stages] == [0, 2.5e9, 5e9, 7.5e9]
        assert [s.batch for s in stages] == [491_520, 1_638_400, 2_785_280, 3_932_160]

    def test_linear_full_fraction_ends_inside_training(self):
        stages = RP.linear_stages(100, 400, 1.0, 2, 1000)
        assert [(s.start, s.batch) for s in stages] == [(0, 100), (500, 400)]

    def test_repeated_rounded_batches_merge(self):
        stages = RP.linear_stages(1, 2, 0.5, 5, 1000)
        assert [s.batch for s in stages] == [1, 2]

    def test_explicit(self):
        stages = RP.parse_ramp("stages:0=256,1B=512,2e9=1024", 1, 1024, 10e9)
        assert [(s.start, s.batch) for s in stages] == [(0, 256), (1e9, 512), (2e9, 1024)]

    @pytest.mark.parametrize("spec, needle", [
        ("linear:0", "fraction 0"),
        ("linear:1.5", "fraction 1.5"),
        ("linear:nan", "fraction"),
        ("linear:0.1:1", "1 steps"),
        ("stages:0=256,1B=512", "does not reach the target"),
        ("stages:0=256,2B=512,1B=1024", "must increase strictly"),
        ("stages:0=512,1B=256,2B=1024", "must increase strictly"),
        ("stages:1B=256,2B=1024", "must start at 0"),
        ("stages:0=256,20B=1024", "never run"),
        ("stages:0:256", "START=BATCH"),
        ("cosine:0.1", "expected linear"),
    ])
    def test_bad_ramp(self, spec, needle):
        with pytest.raises(InputError, match="^ramp") as exc:
            RP.parse_ramp(spec, 128, 1024, 10e9)
        assert needle in str(exc.value) and exc.value.param == "ramp"


class TestPerStage:
    def test_each_stage_is_the_transfer_at_its_batch(self):
        config = load_config(NANO)
        run_ = read_proxy(config)
        target = Scale(768, 8 * B0, 100e9, None, None)
        stages = RP.linear_stages(B0, 8 * B0, 0.1, 4, 100e9)
        result = RP.run_ramp(run_, target, stages, RuleChoices(), seq_len=1024)
        rows = result.to_json_dict()["stages"]
        for stage, row in zip(stages, rows, strict=True):
            alone = transfer_from(run_, Scale(768, stage.batch, 100e9, None, None), RuleChoices())
            assert row["param_groups"]["hidden"]["lr"] == alone.groups["hidden"].lr.target
            assert row["betas"] == [alone.betas[0].target, alone.betas[1].target]
        # stage 2: κ = 10/3: η = 6e-4·√κ, β = 1 − κ(1 − β), ε = 1e-8/√κ, warmup 2000/κ = 600
        k = 1_638_400 / B0
        assert rows[1]["batch_ratio"] == pytest.approx(10 / 3)
        assert rows[1]["param_groups"]["hidden"]["lr"] == pytest.approx(6e-4 * math.sqrt(k))
        assert rows[1]["betas"] == pytest.approx([1 - k * 0.1, 1 - k * 0.05])
        assert rows[1]["eps"] == pytest.approx(1e-8 / math.sqrt(k))
        assert rows[1]["warmup_steps"] == 600
        # λ: 0.1 · (9.0356B / 100B) for the data, × √κ for the batch
        assert rows[1]["param_groups"]["hidden"]["weight_decay"] == pytest.approx(
            0.1 * 9_035_582_198 / 100e9 * math.sqrt(k))
        assert [r["end"] for r in rows] == [2.5e9, 5e9, 7.5e9, 100e9]

    def test_megatron_string(self):
        stages = RP.linear_stages(B0, 8 * B0, 0.1, 4, 100e9)
        assert RP.megatron_schedule(stages, "tokens", 1024) == \
            "0:480 2500000000:1600 5000000000:2720 7500000000:3840"
        # samples: thresholds × seq_len tokens, batches as they are
        assert RP.megatron_schedule((RP.Stage(0, 32), RP.Stage(1000, 64)), "samples", 2048) == "0:32 2048000:64"

    def test_megatron_needs_whole_sequences(self):
        with pytest.raises(InputError, match="^seq_len"):
            RP.megatron_schedule((RP.Stage(0, 1000),), "tokens", 1024)

    def test_ema_decay_per_stage(self):
        # ViT proxy: ρ = 0.99996 → ρ^κ at κ = 2
        result = run(VIT, "--batch-size", "8192", "--ramp", "stages:0=4096,1M=8192", "-f", "json")
        assert result.exit_code == 0, result.stderr
        obj = json.loads(result.stdout)
        proxy_batch = obj["reference_batch_size"]
        rows = obj["stages"]
        assert rows[1]["ema_decay"] == pytest.approx(0.99996 ** (8192 / proxy_batch))


class TestCli:
    ARGS = (NANO, "--batch-size", str(8 * B0), "--ramp", "linear:0.1", "--dataset-size", "100B")

    def test_json_contract(self):
        result = run(*self.ARGS, "--seq-len", "1024", "--critical-batch", "2Mi", "-f", "json")
        assert result.exit_code == 0, result.stderr
        obj = json.loads(result.stdout)
        assert obj["schema_version"] == RP.RAMP_SCHEMA_VERSION
        assert obj["megatron_step_batch_size_schedule"].startswith("0:480 ")
        assert [r["above_critical_batch"] for r in obj["stages"]] == [False, False, True, True]
        assert sum("--critical-batch" in line for line in result.stderr.splitlines()) == 1

    def test_megatron_format_alone(self):
        result = run(*self.ARGS, "--seq-len", "1024", "-f", "megatron")
        assert result.exit_code == 0
        assert result.stdout == "0:480 2500000000:1600 5000000000:2720 7500000000:3840\n"

    def test_table_fits_80_columns(self):
        result = CliRunner().invoke(app, ["ramp", *self.ARGS], env={"COLUMNS": "80"})
        assert result.exit_code == 0
        assert max(len(line) for line in result.stdout.splitlines()) <= 80

    @pytest.mark.parametrize("extra, needle", [
        (("--ramp", "linear:2"), "--ramp"),
        (("--ramp", "stages:0=491520,1B=983040"), "--ramp"),
        (("--ramp", "linear:0.1", "--start-batch", "8M"), "--start-batch"),
        (("--ramp", "linear:0.1", "-f", "megatron"), "--seq-len"),
        (("--ramp", "linear:0.1", "--seq-len", "1000"), "--seq-len"),
    ])
    def test_bad_input_exit_2_one_line(self, extra, needle):
        result = run(NANO, "--batch-size", str(8 * B0), "--dataset-size", "100B", *extra)
        assert result.exit_code == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr
