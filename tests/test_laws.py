"""The published laws shipped as law files (``hpscale/laws/``), named on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import hpscale
from hpscale.cli import app
from hpscale.lawfile import shipped_laws

ROOT = Path(__file__).resolve().parents[1]
LLAMA = str(ROOT / "configs" / "llama-mup-w256.yaml")


def run(*args: str):
    return CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(app, list(args))


def predict(law, hp: str, axes: dict[str, float]) -> float:
    """hp* = coefficient · Π axis^exponent, by hand from the shipped file's own numbers."""
    term = law.terms[hp]
    value = term.coefficient
    for axis, exponent in term.exponents.items():
        value *= axes[axis] ** exponent
    return value


def test_shipped_laws_are_listed_and_load_by_name():
    assert shipped_laws() == ["deepseek", "steplaw"]
    for name in shipped_laws():
        law = hpscale.load_law(name)
        assert law.name == name and set(law.terms) == {"lr", "batch_size"}


def test_deepseek_reproduces_its_7b_and_67b_runs():
    # DeepSeek LLM (arXiv 2401.02954) Table 2: 7B (30 layers, d_model 4096) lr 4.2e-4, batch 2,304
    # sequences; 67B (95 layers, d_model 8192) lr 3.2e-4, batch 4,608; both 4,096-token sequences,
    # 2T tokens. M = 72·n_layer·d² + 12·n_layer·d·l_seq non-embedding FLOPs per token (§3.1).
    law = hpscale.load_law("deepseek")
    # The 67B batch the law gives (≈ 5,043 sequences) lies 9 % above the run's 4,608: the paper
    # rounded to a practical batch; the tolerance says so instead of hiding it.
    for layers, width, lr, batch, batch_rel in ((30, 4096, 4.2e-4, 2304, 0.05), (95, 8192, 3.2e-4, 4608, 0.10)):
        m = 72 * layers * width**2 + 12 * layers * width * 4096
        axes = {"params": m, "dataset_size": 2e12}
        assert predict(law, "lr", axes) == pytest.approx(lr, rel=0.05)
        assert predict(law, "batch_size", axes) / 4096 == pytest.approx(batch, rel=batch_rel)


def test_steplaw_is_the_authors_released_fit_and_rounds_to_the_paper():
    law = hpscale.load_law("steplaw")
    lr, batch = law.terms["lr"], law.terms["batch_size"]
    # The paper (arXiv 2503.04715) prints η = 1.79·N^−0.713·D^0.307 and B = 0.58·D^0.571; the file
    # holds the mean of the authors' 1,000 released bootstrap fits (step-law/steplaw@32a8f4c,
    # data/1004_fitted_lr_bs_scaling_model_parameters.csv), which round to those numbers.
    assert round(lr.exponents["params"], 3) == -0.713 and round(lr.exponents["dataset_size"], 3) == 0.307
    assert round(batch.exponents["dataset_size"], 3) == 0.571
    assert lr.coefficient == pytest.approx(1.79, abs=0.01) and batch.coefficient == pytest.approx(0.58, abs=0.005)
    # Each interval (the fits' 2.5–97.5 % percentiles) holds its exponent.
    for term in (lr, batch):
        for axis, (lo, hi) in term.exponent_ci.items():
            assert lo < term.exponents[axis] < hi
    # Evaluated by hand at N = 1e9, D = 1e11: 1.7973 · 1e9^−0.7129 · 1e11^0.3075.
    axes = {"params": 1e9, "dataset_size": 1e11}
    assert predict(law, "lr", axes) == pytest.approx(10 ** (0.254622 - 6.4161 + 3.3825), rel=1e-3)
    # In a transfer only the ratios count: 4× the tokens moves the hidden lr by 4^0.3075.
    result = hpscale.transfer(LLAMA, dataset_size=8e9, law="steplaw")
    assert result.groups["hidden"].lr.target == pytest.approx(1e-2 * 4**0.3075)


def test_cli_takes_a_name_and_refuses_an_unknown_one():
    assert run("transfer", LLAMA, "--dataset-size", "8e9", "--law", "deepseek").exit_code == 0
    bad = run("transfer", LLAMA, "--dataset-size", "8e9", "--law", "nosuchlaw")
    assert bad.exit_code == 2 and bad.stdout == ""
    line = bad.stderr.strip()
    assert "\n" not in line and "nosuchlaw" in line and "deepseek" in line and "steplaw" in line
    assert "Traceback" not in bad.stderr


def test_check_takes_a_shipped_law_by_name(tmp_path):
    target = tmp_path / "target.yaml"
    made = run("transfer", LLAMA, "--width", "1024", "--dataset-size", "8e9", "--law", "steplaw",
               "--format", "yaml", "--output", str(target))
    assert made.exit_code == 0, made.stderr
    assert run("check", LLAMA, str(target), "--law", "steplaw").exit_code == 0
    # Without the law the same target differs from the rules' values: the law was applied.
    assert run("check", LLAMA, str(target)).exit_code == 1


def _proxy_at(tmp_path, lr: float) -> str:
    import yaml

    data = yaml.safe_load(Path(LLAMA).read_text(encoding="utf-8"))
    data["optimizer"]["lr"] = lr
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_law_warns_once_when_the_proxy_is_far_from_the_laws_own_optimum(tmp_path):
    # The llama proxy: 8 blocks of width 256 (P = 12·8·256² = 6,291,456), 2e9 tokens. DeepSeek's
    # optimum there, with M = 6·P (no sequence length in a config): 0.3118·(6·P·D)^−0.125.
    optimum = 0.3118 * (6 * 12 * 8 * 256**2 * 2e9) ** -0.125
    for factor, warned in ((1.5, False), (1 / 1.5, False), (2.5, True), (1 / 2.5, True)):
        result = run("transfer", _proxy_at(tmp_path, optimum * factor), "--width", "1024", "--law", "deepseek")
        assert result.exit_code == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if "optimum" in line]
        assert len(lines) == (1 if warned else 0)
        if warned:
            assert "deepseek" in lines[0] and f"{optimum * factor:.3g}" in lines[0] and f"{optimum:.3g}" in lines[0]


def test_law_table_shows_how_far_the_target_lies_beyond_the_fitted_range():
    result = run("transfer", LLAMA, "--width", "4096", "--depth", "30", "--dataset-size", "2T", "--law", "deepseek")
    assert result.exit_code == 0, result.stderr
    compute = 6 * 12 * 30 * 4096**2 * 2e12  # M = 6·P at the target, D = 2T tokens
    assert f"compute ×{compute / 2e19:.3g}" in result.stdout
    inside = run("transfer", LLAMA, "--width", "512", "--law", "deepseek")
    assert "beyond the law's fitted range" not in inside.stdout


def test_shipped_exponents_along_a_fitted_laws_axes():
    from hpscale.core.published import shipped_exponent

    steplaw, deepseek = hpscale.load_law("steplaw"), hpscale.load_law("deepseek")
    a = steplaw.terms["lr"].exponents["params"]
    lo, hi = steplaw.terms["lr"].exponent_ci["params"]
    assert shipped_exponent(steplaw, "lr", "params") == (a, (lo, hi))
    # P = 12·L·W²: along width at fixed depth the exponent doubles, along depth it stays.
    assert shipped_exponent(steplaw, "lr", "width") == (2 * a, (2 * lo, 2 * hi))
    assert shipped_exponent(steplaw, "lr", "depth") == (a, (lo, hi))
    assert shipped_exponent(deepseek, "lr", "dataset_size") == (-0.125, (-0.125, -0.125))
    # Step Law's batch does not move with N (it says so: 0); no law has a batch-size axis or a β law.
    assert shipped_exponent(steplaw, "batch_size", "width") == (0.0, (0.0, 0.0))
    assert shipped_exponent(steplaw, "lr", "batch_size") is None
    assert shipped_exponent(steplaw, "beta2", "width") is None


def test_fit_report_sets_the_fitted_law_beside_the_shipped_ones():
    result = run("fit", str(ROOT / "configs" / "sweep-synthetic.csv"), "--by", "width", "--optimize", "lr,weight_decay",
                 "--metric", "val/loss", "--bootstrap", "50")
    assert result.exit_code == 0, result.stderr
    section = result.stdout[result.stdout.index("beside the published"):]
    steplaw = 2 * hpscale.load_law("steplaw").terms["lr"].exponents["params"]
    assert f"{steplaw:.2f}".replace("-", "−") in section and "−0.25" in section
    assert "width 128–1,024" in section and all(len(line) <= 100 for line in section.splitlines())
