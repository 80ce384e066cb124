"""``hpscale timescale``: hand-computed forward and inverse values, conventions, errors.

Worked check (Wang & Aitchison 2024, arXiv 2405.13698, nanoGPT on OpenWebText):
η = 6e-4, λ = 0.1, B = 491,520, N = 9,035,582,198 tokens
  τ_iter  = 1/(η·λ) = 1/6e-5 = 16,666.67 steps
  M       = N/B = 18,382.939 steps per epoch
  τ_epoch = τ_iter/M = 0.9066378
  τ_epoch = 1  →  λ = B/(η·N) = 0.0906638;  with λ = 0.1 instead  →  η = B/(λ·N) = 5.43983e-4
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.core.timescale import compute_timescale
from hpscale.errors import InputError

rel = pytest.approx
B, N = 491_520, 9_035_582_198
NANOGPT = "configs/nanogpt-124m-proxy.yaml"
SIZES = ["--batch-size", str(B), "--dataset-size", str(N)]


def run(*args: str):
    return CliRunner().invoke(app, ["timescale", *args])


class TestHandComputed:
    def test_forward_worked_check(self):
        r = compute_timescale(lr=6e-4, weight_decay=0.1, batch_size=B, dataset_size=N)
        assert r.tau_iter == rel(16_666.666667)
        assert r.iterations_per_epoch == rel(18_382.939042)
        assert r.tau_epoch == rel(0.906637760, rel=1e-8)
        assert r.solved_for is None and r.tau_run_fraction is None

    def test_inverse_weight_decay(self):
        r = compute_timescale(lr=6e-4, weight_decay=None, batch_size=B, dataset_size=N, tau_epoch=1.0)
        assert r.solved_for == "weight_decay"
        assert r.weight_decay == rel(0.0906637760, rel=1e-8)
        assert r.tau_epoch == rel(1.0)

    def test_inverse_lr(self):
        r = compute_timescale(lr=None, weight_decay=0.1, batch_size=B, dataset_size=N, tau_epoch=1.0, solve="lr")
        assert r.lr == rel(B / (0.1 * N)) and r.lr == rel(5.43982656e-4, rel=1e-8)
        assert r.tau_epoch == rel(1.0)

    def test_inverse_tau_iter_needs_no_sizes(self):
        r = compute_timescale(lr=6e-4, weight_decay=None, batch_size=None, dataset_size=None, tau_iter=10_000)
        assert r.weight_decay == rel(1 / 6)  # 1/(6e-4 · 10⁴)
        assert r.tau_epoch is None and r.tau_iter == rel(10_000)

    def test_run_fraction_from_epochs_and_from_steps_agree(self):
        by_epochs = compute_timescale(lr=6e-4, weight_decay=0.1, batch_size=B, dataset_size=N, epochs=2)
        assert by_epochs.tau_run_fraction == rel(0.906637760 / 2)
        assert by_epochs.total_steps == rel(2 * 18_382.939042)
        by_steps = compute_timescale(lr=6e-4, weight_decay=0.1, batch_size=B, dataset_size=N,
                                     total_steps=by_epochs.total_steps)
        assert by_steps.tau_run_fraction == rel(by_epochs.tau_run_fraction)
        assert by_steps.epochs == rel(2)

    def test_independent_convention(self):
        # λ_ind = η·λ = 6e-5 is the same run as coupled λ = 0.1.
        r = compute_timescale(lr=6e-4, weight_decay=6e-5, batch_size=B, dataset_size=N, convention="independent")
        assert r.weight_decay_coupled == rel(0.1)
        assert r.tau_epoch == rel(0.906637760, rel=1e-8)
        solved = compute_timescale(lr=6e-4, weight_decay=None, batch_size=B, dataset_size=N,
                                   convention="independent", tau_epoch=1.0)
        assert solved.weight_decay == rel(6e-4 * 0.0906637760, rel=1e-8)

    def test_zero_weight_decay_is_infinite(self):
        r = compute_timescale(lr=6e-4, weight_decay=0.0, batch_size=B, dataset_size=N, epochs=1)
        assert r.tau_iter is None and r.tau_epoch is None and r.tau_run_fraction is None

    @pytest.mark.parametrize(
        ("kwargs", "option"),
        [
            ({"lr": 6e-4, "weight_decay": None, "batch_size": B, "dataset_size": N, "tau_epoch": 1, "tau_iter": 5}, "tau_iter"),
            ({"lr": None, "weight_decay": 0.1, "batch_size": B, "dataset_size": N, "tau_epoch": 1, "solve": "lr",
              "convention": "independent"}, "solve"),
            ({"lr": 6e-4, "weight_decay": 0.1, "batch_size": B, "dataset_size": None}, "dataset_size"),
            ({"lr": 6e-4, "weight_decay": None, "batch_size": None, "dataset_size": None, "tau_epoch": 1}, "batch_size"),
            ({"lr": None, "weight_decay": 0.0, "batch_size": B, "dataset_size": N, "tau_epoch": 1, "solve": "lr"}, "weight_decay"),
            ({"lr": 6e-4, "weight_decay": 0.1, "batch_size": B, "dataset_size": N, "epochs": 1, "total_steps": 10}, "total_steps"),
        ],
    )
    def test_refusals_name_the_parameter(self, kwargs, option):
        with pytest.raises(InputError, match=f"^{option}") as info:
            compute_timescale(**kwargs)
        assert info.value.param == option and "--" not in str(info.value)


class TestCli:
    def test_worked_check_table(self):
        result = run("--lr", "6e-4", "--weight-decay", "0.1", *SIZES)
        assert result.exit_code == 0, result.stderr
        assert "0.9066" in result.stdout and "18,382.9" in result.stdout
        assert result.stderr == ""

    def test_inverse_json(self):
        result = run("--lr", "6e-4", "--tau-epoch", "1", *SIZES, "--format", "json")
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["schema_version"] == 1
        assert data["solved_for"] == "weight_decay"
        assert data["target"] == {"tau_epoch": 1}
        assert data["weight_decay"] == rel(0.0906637760, rel=1e-8)
        assert data["tau_epoch"] == 1

    def test_si_suffixes(self):
        result = run("--lr", "6e-4", "--weight-decay", "0.1", "--batch-size", "0.5M", "--dataset-size", "10B",
                     "--format", "json")
        assert json.loads(result.stdout)["tau_epoch"] == rel(0.5e6 / (6e-5 * 10e9))

    def test_config_group_and_overrides(self):
        data = json.loads(run("--config", NANOGPT, "--format", "json").stdout)
        assert data["group"] == "hidden" and data["config"] == "nanogpt-124m"
        assert data["tau_epoch"] == rel(0.906637760, rel=1e-8)
        assert data["epochs"] == 1 and data["tau_run_fraction"] == rel(0.906637760, rel=1e-8)
        # An explicit option overrides the config: doubling η halves τ.
        data = json.loads(run("--config", NANOGPT, "--lr", "1.2e-3", "--format", "json").stdout)
        assert data["tau_epoch"] == rel(0.906637760 / 2, rel=1e-8)
        # nanoGPT does not decay the vector group: τ = ∞, written as null.
        data = json.loads(run("--config", NANOGPT, "--group", "vector", "--format", "json").stdout)
        assert data["weight_decay"] == 0 and data["tau_epoch"] is None

    def test_config_solve_lr(self):
        data = json.loads(run("--config", NANOGPT, "--tau-epoch", "1", "--solve", "lr", "--format", "json").stdout)
        assert data["solved_for"] == "lr" and data["lr"] == rel(B / (0.1 * N))

    def test_config_in_the_other_convention(self):
        data = json.loads(run("--config", NANOGPT, "--convention", "independent", "--format", "json").stdout)
        assert data["weight_decay"] == rel(6e-5) and data["weight_decay_coupled"] == rel(0.1)

    @pytest.mark.parametrize(
        ("args", "needle"),
        [
            (["--lr", "6e-4", "--weight-decay", "0.1", "--tau-epoch", "1", *SIZES], "--weight-decay: given together"),
            (["--weight-decay", "0.1", *SIZES], "--lr: missing"),
            (["--lr", "6e-4", "--weight-decay", "0.1", "--batch-size", "1M"], "--dataset-size: missing"),
            (["--lr", "abc", "--weight-decay", "0.1"], "--lr: expected a number such as 6e-4 or 0.1, found 'abc'"),
            (["--lr", "-1", "--weight-decay", "0.1"], "--lr: must be > 0, found '-1'"),
            (["--lr", "6e-4", "--weight-decay", "0.1", "--solve", "lr"], "--solve: needs --tau-epoch"),
            (["--lr", "6e-4", "--tau-epoch", "1", "--solve", "eta", *SIZES], "--solve: 'eta'"),
            (["--lr", "6e-4", "--weight-decay", "0.1", "--group", "hidden"], "--group: needs --config"),
            (["--config", NANOGPT, "--group", "hiden"], "--group: 'hiden'"),
            (["--lr", "6e-4", "--weight-decay", "0.1", "--convention", "decoupled"], "--convention: 'decoupled'"),
            (["--lr", "6e-4", "--weight-decay", "0.1", "--format", "yaml"], "--format: 'yaml'"),
        ],
    )
    def test_errors_exit_2_one_line(self, args, needle):
        result = run(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: {needle}")
        assert result.stderr.count("\n") == 1

    def test_independent_lambda_given_as_coupled_warns(self):
        result = run("--lr", "1e-2", "--weight-decay", "200", *SIZES)
        assert result.exit_code == 0
        assert "warning: η·λ = 2 ≥ 1" in result.stderr

    def test_output_file(self, tmp_path):
        target = tmp_path / "tau.json"
        result = run("--lr", "6e-4", "--weight-decay", "0.1", *SIZES, "--format", "json", "--output", str(target))
        assert result.exit_code == 0 and result.stdout == ""
        assert json.loads(target.read_text())["tau_epoch"] == rel(0.906637760, rel=1e-8)
