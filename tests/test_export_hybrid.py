"""Hybrid (Muon + AdamW) plans exported into the trainers that take Muon settings, nanochat
and Megatron-LM (issue 20), read back by ``check``; values hand-computed in the comments.
The trainers' own parsers read the same files in tests/test_export_trainers.py."""

from __future__ import annotations

import math

import pytest
import yaml
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.export import megatron, nanochat
from hpscale.export.common import read_header

runner = CliRunner()

#: configs/nanochat-hybrid.yaml's values: Muon lr 0.02, λ 0.2 (original); AdamW vector lr 0.004,
#: embedding lr 0.2, width 768, depth 12, batch 2¹⁹ tokens, 1B tokens.
PROXY = "configs/nanochat-hybrid.yaml"
SIZES = ["--seq-len", "2048", "--world-size", "8", "--micro-batch", "4"]


def export(tmp_path, fmt, *args, proxy=PROXY):
    path = tmp_path / f"target.{fmt}"
    result = runner.invoke(app, ["transfer", proxy, *args, "-f", fmt, *SIZES, "-o", str(path)])
    assert result.exit_code == 0, result.stderr
    return path, result.stderr


def mra_proxy(tmp_path):
    """The example proxy trained under match_rms_adamw (0.2·√max(A, B)) instead of original."""
    data = yaml.safe_load(open(PROXY))
    data["muon"]["convention"] = "match_rms_adamw"
    proxy = tmp_path / "mra.yaml"
    proxy.write_text(yaml.safe_dump(data))
    return proxy


def flags(path, module):
    return module.parse(path.read_text())


def test_nanochat_matrix_lr_and_weight_decay_hand_checked(tmp_path):
    # Width ×2, batch ×2 (2²⁰), data ×10 at depth 12: Muon η = 0.02·√2 (original: no width
    # factor), λ = 0.2·√2/10. nanochat multiplies --matrix-lr by √(2²⁰/2¹⁹) = √2 and
    # --weight-decay by √2·D_REF/target_tokens = √2·1 (same depth, same model): both 0.02.
    path, stderr = export(tmp_path, "nanochat", "--width", "1536", "--batch-size", "1Mi", "--dataset-size", "10B")
    assert "vocabulary" not in stderr  # depth 12 is its own reference: no vocabulary in the factor
    v = flags(path, nanochat)
    assert v["--matrix-lr"] == pytest.approx(0.02, rel=1e-9)
    assert v["--weight-decay"] == pytest.approx(0.02, rel=1e-9)
    header = read_header(path.read_text())
    assert "param_groups.hidden.lr" not in header.not_expressed  # original → original: exact
    assert runner.invoke(app, ["check", PROXY, str(path)]).exit_code == 0
    # An edited --matrix-lr is a finding on the Muon group.
    path.write_text(path.read_text().replace(f"--matrix-lr {nanochat.shell.plain(v['--matrix-lr'])}",
                                             "--matrix-lr 0.01"))
    checked = runner.invoke(app, ["check", PROXY, str(path)])
    assert checked.exit_code == 1 and "param_groups.hidden.lr" in checked.stdout


def test_nanochat_scaling_params_match_its_log():
    # nanochat dev/LOG.md (d12, when ve_gate had 32 channels): transformer_matrices 84,935,808,
    # lm_head 25,165,824. The same count with the current 12 channels: 84,935,088.
    assert nanochat.scaling_params(12, 768, 128, ve_gate_channels=32) == 84_935_808 + 25_165_824
    assert nanochat.scaling_params(12, 768, 128) == 84_934_656 + 432 + 25_165_824


def test_nanochat_weight_decay_divides_out_its_horizon_rescaling():
    # Depth 24, width 1536 (aspect 64): P = 24·12·1536² + 12·12·12 + 32768·1536 = 729,810,624;
    # d12 at aspect 64 is width 768: P₁₂ = 110,100,912; B = 2²⁰.
    scale = nanochat.nanochat_wd_scale(2**20, 24, 64, 128)
    assert scale == pytest.approx(math.sqrt(2) * 110_100_912 / 729_810_624, rel=1e-12)


def test_nanochat_says_its_vocabulary_assumption_where_the_depth_changes(tmp_path):
    _, stderr = export(tmp_path, "nanochat", "--width", "1536", "--depth", "24")
    assert len([line for line in stderr.splitlines() if "32,768" in line]) == 1


def test_nanochat_converts_another_convention_per_shape_and_says_so(tmp_path):
    # A match_rms_adamw proxy: at width 1536 its lr 0.02/√2 converts to original as
    # 0.2·√1536·η on d×d and 4d×d, 0.2·√6144·η on d×4d (×2): one lr cannot carry both.
    proxy = mra_proxy(tmp_path)
    path, stderr = export(tmp_path, "nanochat", "--width", "1536", proxy=str(proxy))
    eta = 0.02 / math.sqrt(2)
    assert flags(path, nanochat)["--matrix-lr"] == pytest.approx(0.2 * math.sqrt(1536) * eta, rel=1e-9)
    lines = [line for line in stderr.splitlines() if "exactly" in line]
    assert len(lines) == 1 and "param_groups.hidden.lr" in lines[0] and "×0.5" in lines[0]
    assert "param_groups.hidden.lr" in read_header(path.read_text()).not_expressed
    assert runner.invoke(app, ["check", str(proxy), str(path)]).exit_code == 0


def test_megatron_muon_flags_hand_checked(tmp_path):
    # Width ×4, batch ×4, data ×10: vector lr 0.004·2 = 0.008 (--lr, the Adam base), Muon
    # η = 0.02·2 = 0.04 (original = shape_scaling) = 0.008 × extra factor 5; λ = 0.2·2/10 = 0.04,
    # shrink η·λ = 0.0016 = --lr × --weight-decay → 0.2.
    path, _ = export(tmp_path, "megatron", "--width", "3072", "--batch-size", "2Mi", "--dataset-size", "10B")
    v = flags(path, megatron)
    assert (v["--optimizer"], v["--muon-scale-mode"]) == ("muon", "shape_scaling")
    assert v["--lr"] == pytest.approx(0.008) and v["--muon-extra-scale-factor"] == pytest.approx(5)
    assert v["--weight-decay"] == pytest.approx(0.2)
    assert v["--muon-momentum"] == 0.95 and v["--muon-nesterov"] is True
    assert "param_groups.hidden.lr" not in read_header(path.read_text()).not_expressed
    assert runner.invoke(app, ["check", PROXY, str(path)]).exit_code == 0


def test_megatron_match_rms_adamw_is_spectral_with_its_0_2(tmp_path):
    # Width ×4: the match_rms_adamw lr 0.02/√4 = 0.01; Megatron's spectral step is
    # --lr·extra·√max(A, B), so extra = 0.2·0.01/--lr = 0.002/0.004 = 0.5 for every shape.
    proxy = mra_proxy(tmp_path)
    path, stderr = export(tmp_path, "megatron", "--width", "3072", proxy=str(proxy))
    v = flags(path, megatron)
    assert v["--muon-scale-mode"] == "spectral" and v["--muon-extra-scale-factor"] == pytest.approx(0.5)
    assert "exactly" not in stderr
    assert runner.invoke(app, ["check", str(proxy), str(path)]).exit_code == 0
    # The same flags read as shape_scaling are another step: a finding.
    path.write_text(path.read_text().replace("--muon-scale-mode spectral", "--muon-scale-mode shape_scaling"))
    assert runner.invoke(app, ["check", str(proxy), str(path)]).exit_code == 1


def test_an_adamw_plan_exports_as_before(tmp_path):
    # No muon section: no Muon flags in either file.
    path, _ = export(tmp_path, "megatron", "--width", "1024", "--batch-size", "2Mi",
                     proxy="configs/llama-mup-w256.yaml")
    assert "--optimizer" not in flags(path, megatron)
    path, _ = export(tmp_path, "nanochat", "--width", "1024", "--batch-size", "2Mi",
                     proxy="configs/llama-mup-w256.yaml")
    assert "--matrix-lr" not in flags(path, nanochat)
