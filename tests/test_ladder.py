"""``hpscale ladder``: targets (zip, broadcast, product), one transfer contract per row, CSV/table."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

import hpscale
from hpscale.cli import app
from hpscale.commands import options as O
from hpscale.core import ladder as LD
from hpscale.core.compose import scale_of, transfer_to
from hpscale.core.rules import RuleChoices
from hpscale.core.scale import Scale
from hpscale.errors import InputError
from hpscale.loader import load_config
from hpscale.outputs import ladder as C

LLAMA = "configs/llama-mup-w256.yaml"
VIT = "configs/vit-s16-ema.yaml"
PROXY = Scale(width=256, batch_size=524_288, dataset_size=2e9, depth=8)


def run(*args: str):
    return CliRunner().invoke(app, ["ladder", *args])


class TestTargets:
    def test_zip_with_broadcast_and_proxy_defaults(self):
        scales = LD.ladder_scales(PROXY, widths=(512, 1024, 2048), batch_sizes=(1e6,))
        assert [(s.width, s.batch_size, s.dataset_size, s.depth) for s in scales] == [
            (512, 1e6, 2e9, None), (1024, 1e6, 2e9, None), (2048, 1e6, 2e9, None)]

    def test_zip_pairs_in_order(self):
        scales = LD.ladder_scales(PROXY, widths=(512, 1024), dataset_sizes=(4e9, 8e9), depths=(16, 32))
        assert [(s.width, s.dataset_size, s.depth) for s in scales] == [(512, 4e9, 16), (1024, 8e9, 32)]

    def test_product_widths_vary_slowest(self):
        scales = LD.ladder_scales(PROXY, widths=(512, 1024), dataset_sizes=(4e9, 8e9, 16e9), product=True)
        assert [(s.width, s.dataset_size) for s in scales] == [
            (512, 4e9), (512, 8e9), (512, 16e9), (1024, 4e9), (1024, 8e9), (1024, 16e9)]

    def test_zip_length_mismatch_names_the_parameter_and_the_cli_the_flag(self):
        with pytest.raises(InputError, match=r"^dataset_sizes: 3 values but `widths` has 2") as info:
            LD.ladder_scales(PROXY, widths=(512, 1024), dataset_sizes=(1e9, 2e9, 3e9))
        assert info.value.param == "dataset_sizes"
        assert O.cli_message(info.value).startswith("--dataset-sizes: 3 values but --widths has 2")
        assert "or use --product for every combination" in O.cli_message(info.value)

    def test_size_lists(self):
        def widths(text):
            return hpscale.ladder_targets(LLAMA, widths=text).ladder.widths

        assert widths("512, 1Ki,2_048") == (512, 1024, 2048)
        assert widths([512, "1Ki"]) == (512, 1024)
        assert hpscale.ladder_targets(LLAMA, batch_sizes="0.5M,1M").ladder.batch_sizes == (5e5, 1e6)
        for text, needle in (("512,,1024", "item 2 is empty"), ("512,abc", "'abc'"), ("0", "must be > 0"),
                             ("512.5", "whole number")):
            with pytest.raises(InputError, match=f"^widths: .*{needle}") as info:
                widths(text)
            assert info.value.param == "widths"


class TestRows:
    def test_each_row_is_the_transfer_contract(self):
        result = run(LLAMA, "--widths", "512,1024,2048,4096", "--dataset-sizes", "4B,8B,16B,32B",
                     "--format", "json")
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        assert len(rows) == 4
        config = load_config(LLAMA)
        for row, (width, dataset) in zip(rows, [(512, 4e9), (1024, 8e9), (2048, 16e9), (4096, 32e9)], strict=True):
            expected = transfer_to(config, Scale(width=width, batch_size=524_288, dataset_size=dataset)).to_json_dict()
            assert row == json.loads(json.dumps(expected))
        # and the very same object `transfer --format json` prints
        single = CliRunner().invoke(app, ["transfer", LLAMA, "--width", "1024", "--dataset-size", "8B",
                                          "--format", "json"])
        assert json.loads(single.stdout) == rows[1]

    def test_hand_computed_hidden_values(self):
        # µP: hidden η × 1/m; timescale rule: hidden λ × m × 1/ν (κ = 1) → τ_epoch constant.
        rows = json.loads(run(LLAMA, "--widths", "512,1024", "--dataset-sizes", "4B,8B", "--format", "json").stdout)
        assert [r["param_groups"]["hidden"]["lr"] for r in rows] == [pytest.approx(5e-3), pytest.approx(2.5e-3)]
        assert [r["param_groups"]["hidden"]["weight_decay"] for r in rows] == [pytest.approx(0.1), pytest.approx(0.1)]
        tau_proxy = 524_288 / (1e-2 * 0.1 * 2e9)  # 0.262144
        assert all(r["timescales"]["hidden"]["target"]["tau_epoch"] == pytest.approx(tau_proxy) for r in rows)

    def test_rule_options_reach_every_row(self):
        rows = json.loads(run(LLAMA, "--widths", "512,1024", "--depths", "16", "--depth-rule", "depth-mup",
                              "--eps-width-rule", "inverse", "--format", "json").stdout)
        for row, m in zip(rows, (2, 4), strict=True):
            assert row["rules"]["depth_rule"] == "depth-mup" and row["rules"]["eps_width_rule"] == "inverse"
            assert row["residual_multiplier"] == pytest.approx(2 ** -0.5)  # m_L = 2, α = ½
            assert row["param_groups"]["hidden"]["eps"] == pytest.approx(1e-8 / m * 2 ** -0.5)  # depth-eps

    def test_product_rows(self):
        rows = json.loads(run(LLAMA, "--widths", "512,1024", "--batch-sizes", "0.5M,1M", "--product",
                              "--format", "json").stdout)
        assert [(r["target"]["width"], r["target"]["batch_size"]) for r in rows] == [
            (512, 500000), (512, 1000000), (1024, 500000), (1024, 1000000)]

    def test_csv_flattens_the_same_values(self):
        result = run(LLAMA, "--widths", "512,1024", "--batch-sizes", "1M", "--format", "csv")
        assert result.exit_code == 0
        table = list(csv.DictReader(io.StringIO(result.stdout)))
        assert list(table[0]) == C.csv_header()
        rows = json.loads(run(LLAMA, "--widths", "512,1024", "--batch-sizes", "1M", "--format", "json").stdout)
        for line, row in zip(table, rows, strict=True):
            assert float(line["hidden.lr"]) == row["param_groups"]["hidden"]["lr"]
            assert float(line["hidden.weight_decay"]) == row["param_groups"]["hidden"]["weight_decay"]
            assert float(line["beta2"]) == row["optimizer"]["betas"][1]
            assert line["ema_decay"] == "" and line["residual_multiplier"] == ""

    def test_table_has_one_row_per_target_and_ema(self):
        result = run(VIT, "--batch-sizes", "2048,4096")
        assert result.exit_code == 0, result.stderr
        assert "EMA ρ" in result.stdout
        assert f"{0.99996 ** 2:.6g}" in result.stdout and f"{0.99996 ** 4:.6g}" in result.stdout

    def test_warnings_once_on_stderr_and_in_each_object(self):
        result = run(LLAMA, "--widths", "512,1024", "--dataset-sizes", "20M", "--format", "json")
        assert result.exit_code == 0
        rows = json.loads(result.stdout)
        assert all(r["warnings"] for r in rows)
        lines = result.stderr.splitlines()
        assert len(lines) == len(set(lines))
        assert any(line.endswith("(every target)") for line in lines)

    def test_stderr_warnings_are_capped(self):
        config = load_config(LLAMA)
        widths = [256 * (65 + i) for i in range(30)]  # each row a different far-extrapolation m
        results = LD.run_ladder(config, LD.ladder_scales(scale_of(config), widths=widths))
        lines = C.stderr_warnings([r.warnings for r in results])
        assert len(lines) == C.MAX_STDERR_WARNINGS + 1 and lines[-1].startswith("… and 10 more")

    def test_output_file(self, tmp_path):
        target = tmp_path / "ladder.csv"
        result = run(LLAMA, "--widths", "512", "--format", "csv", "--output", str(target))
        assert result.exit_code == 0 and result.stdout == ""
        assert target.read_text().startswith("width,depth,")


class TestErrors:
    @pytest.mark.parametrize(("args", "needle"), [
        ([LLAMA], "--widths: missing"),
        ([LLAMA, "--widths", "512,1024", "--batch-sizes", "1M,2M,4M"], "--batch-sizes: 3 values but --widths has 2"),
        ([LLAMA, "--widths", "512,x"], "--widths: expected a whole number such as 4096 or 4Ki, found 'x'"),
        ([LLAMA, "--widths", "512", "--format", "yaml"], "--format: 'yaml'"),
        ([LLAMA, "--widths", "512", "--depth-rule", "alpha"], "--depth-rule: 'alpha'"),
        # κ = 16M/524,288 = 30.5 ≥ 1/(1 − 0.9) = 10: the linear β rule is undefined for that row only.
        ([LLAMA, "--batch-sizes", "1M,16M"], "target 2 (W=256, B=16M, N=2B): optimizer.betas[0]"),
        ([VIT, "--widths", "768", "--tau-rule", "power-lines"], "target 1 (W=768, B=1,024, N=1,281,167): data.unit"),
    ])
    def test_exit_2_one_line(self, args, needle):
        result = run(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: {needle}"), result.stderr
        assert result.stderr.count("\n") == 1

    def test_depths_without_proxy_depth(self, tmp_path):
        config = tmp_path / "nodepth.yaml"
        config.write_text(open(LLAMA).read().replace("  depth: 8            # decoder blocks\n", ""))
        result = run(str(config), "--depths", "16")
        assert result.exit_code == 2 and "model.depth: missing" in result.stderr


def test_run_ladder_matches_transfer_for_many_rows():
    config = load_config(LLAMA)
    choices = RuleChoices(wd_width_rule="sqrt", beta_rule="exponential")
    targets = LD.ladder_scales(scale_of(config), widths=[256 * (i + 1) for i in range(50)],
                               batch_sizes=[524_288 * (1 + i % 3) for i in range(50)])
    results = LD.run_ladder(config, targets, choices)
    assert [r.to_json_dict() for r in results] == [transfer_to(config, t, choices).to_json_dict() for t in targets]
    text = C.dumps_json_list([r.to_json_dict() for r in results])
    assert len(text.splitlines()) == 52  # "[", one object per line, "]"
