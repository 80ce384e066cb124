"""The public Python API: names, no module/function clashes, types, immutability."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pickle
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import hpscale
from hpscale import InputError, RuleChoices

ROOT = Path(__file__).resolve().parents[1]
NANOGPT = "configs/nanogpt-124m-proxy.yaml"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_every_public_name_resolves_and_is_documented():
    for name in hpscale.__all__:
        value = getattr(hpscale, name)
        if callable(value):
            assert inspect.getdoc(value), name


def test_no_public_name_is_a_submodule():
    """``from hpscale import transfer`` must stay the function even after submodules load."""
    submodules = {info.name for info in pkgutil.iter_modules(hpscale.__path__)}
    assert not submodules & set(hpscale.__all__)
    for module in submodules - {"__main__", "torch"}:
        importlib.import_module(f"hpscale.{module}")
    from hpscale import transfer

    assert inspect.isfunction(transfer) and "per parameter group" in transfer.__doc__


def test_transfer_keyword_api_matches_the_cli_contract():
    result = hpscale.transfer(NANOGPT, width=3072, batch_size="983040", dataset_size=36_142_328_792)
    assert result.ratios.width == 4 and result.ratios.batch == 2 and result.ratios.dataset == 4
    assert hpscale.to_json(result)["param_groups"]["hidden"]["weight_decay"] == pytest.approx(0.141421356237)


def test_result_is_immutable_and_picklable():
    result = hpscale.transfer(NANOGPT, width=1536)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.groups["hidden"] = result.groups["vector"]  # type: ignore[index]
    assert pickle.loads(pickle.dumps(result)) == result


@pytest.mark.parametrize("kwargs, needle", [
    ({"width": 0}, "width: must be > 0, found 0"),
    ({"width": 1.5}, "width: must be a whole number, found 1.5"),
    ({"batch_size": "lots"}, "batch_size: expected a number such as .*, found 'lots'"),
    ({"width": "4k"}, "width: .*found '4k': a decimal suffix makes that 4,000, not 4,096"),
    ({"wd_width_rule": "cubic"}, "wd_width_rule: 'cubic': allowed: timescale, sqrt, constant"),
    ({"tau_exponent": float("nan")}, "tau_exponent"),
])
def test_bad_arguments_raise_input_error(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        hpscale.transfer(NANOGPT, **kwargs)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        hpscale.transfer(NANOGPT, widht=4096)


def test_load_config_from_a_mapping_and_errors_name_the_field():
    config = hpscale.load_config({"model": {"width": "1Ki"}, "data": {"dataset_size": "2e9", "batch_size": 1e6},
                                  "optimizer": {"lr": "1e-3", "weight_decay": 0.1}})
    assert config.model.width == 1024 and config.optimizer.lr == 1e-3
    with pytest.raises(InputError, match=r"<mapping>: model\.width: required field is missing"):
        hpscale.load_config({"model": {}, "data": {"dataset_size": 1, "batch_size": 1},
                             "optimizer": {"lr": 1, "weight_decay": 0}})


def test_check_accepts_paths_mappings_and_configs(tmp_path):
    target = hpscale.to_target_config(hpscale.transfer(NANOGPT, width=1536))
    assert hpscale.check(NANOGPT, target).ok
    target["param_groups"]["hidden"]["lr"] *= 2
    report = hpscale.check(hpscale.load_config(NANOGPT), target)
    assert not report.ok and report.findings[0].field == "param_groups.hidden.lr"


def test_rule_choices_fields_are_the_cli_rule_options():
    from hpscale.commands.options import RULE_OPTIONS

    assert [f.name for f in dataclasses.fields(RuleChoices)] == list(RULE_OPTIONS)


def test_package_type_checks():
    """The whole package, the public surface included (it costs what the surface alone did)."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "hpscale"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
