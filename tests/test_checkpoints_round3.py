"""Hostile model directories, round 3 (issue 18): each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from spectrum_fixtures import safetensors_bytes

from hpscale.checkpoints import open_checkpoint, scan_checkpoint
from hpscale.errors import InputError


def one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("bad", [5, 2.5, None, [b"x"]])
def test_a_path_that_is_not_a_path_names_the_parameter(bad: object) -> None:
    with pytest.raises(InputError) as exc:
        scan_checkpoint(bad)  # type: ignore[arg-type]
    assert one_line(exc).startswith("path:")


def _model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    tensors = {"wte.weight": np.ones((4, 8), np.float32), "h.0.mlp.c_fc.weight": np.ones((8, 8), np.float32)}
    (folder / "model-00001-of-00001.safetensors").write_bytes(safetensors_bytes(tensors, "F32"))
    index = {"weight_map": dict.fromkeys(tensors, "model-00001-of-00001.safetensors")}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def test_a_5000_digit_integer_in_config_json_names_the_file_and_field(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    (folder / "config.json").write_text('{"model_type": "gpt2", "n_embd": ' + "9" * 5000 + "}")
    with pytest.raises(InputError) as exc:
        open_checkpoint(folder)
    message = one_line(exc)
    assert "config.json" in message and "n_embd" in message and len(message) < 300


def test_a_5000_digit_integer_in_the_shard_index_names_the_file_and_field(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    index = folder / "model.safetensors.index.json"
    index.write_text('{"metadata": {"total_size": ' + "9" * 5000 + '}, "weight_map": '
                     + json.dumps(json.loads(index.read_text())["weight_map"]) + "}")
    with pytest.raises(InputError) as exc:
        open_checkpoint(folder)
    message = one_line(exc)
    assert "model.safetensors.index.json" in message and "total_size" in message and len(message) < 300



class NotAllowed:
    """A class torch's weights-only unpickler refuses."""


def test_a_stride_0_bin_view_claiming_100000_squared_is_refused_unread(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    folder = tmp_path / "model"
    folder.mkdir()
    base = torch.arange(16, dtype=torch.float32)
    huge = base.as_strided((100000, 100000), (0, 0))
    torch.save({"transformer.h.0.mlp.c_fc.weight": huge}, folder / "pytorch_model.bin")
    with pytest.raises(InputError) as exc:
        scan_checkpoint(folder)
    message = one_line(exc)
    assert "transformer.h.0.mlp.c_fc.weight" in message and "storage" in message


def test_a_bin_view_into_a_larger_storage_is_still_read(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "w.bin"
    base = torch.arange(64, dtype=torch.float32)
    torch.save({"w": base[48:].as_strided((4, 4), (4, 1))}, path)  # 16 floats at offset 48
    with open_checkpoint(path) as ckpt:
        np.testing.assert_array_equal(ckpt.read(ckpt.tensors[0]), np.arange(48, 64).reshape(4, 4))


def test_a_refused_legacy_bin_is_one_line_and_no_torch_warning(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.ones(2, 2), "bad": NotAllowed()}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(InputError) as exc:
        open_checkpoint(path)
    message = one_line(exc)
    assert "legacy" in message and "mmap" not in message
    assert capfd.readouterr().err == ""


def test_shards_are_opened_as_they_are_read_not_all_at_once(tmp_path: Path) -> None:
    import resource

    folder = tmp_path / "many"
    folder.mkdir()
    count = 300
    names = [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
    weight_map = {}
    for i, name in enumerate(names):
        tensor = f"h.{i}.mlp.c_fc.weight"
        (folder / name).write_bytes(safetensors_bytes({tensor: np.full((2, 2), i + 1.0, np.float32)}, "F32"))
        weight_map[tensor] = name
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))  # fewer than the shards
    try:
        scan = scan_checkpoint(folder)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(scan.records) == count and scan.files == count


def test_a_symlinked_shard_that_is_not_safetensors_says_so(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    other = tmp_path / "notes.txt"
    other.write_text("this is a text file, not a checkpoint at all\n" * 4)
    shard = folder / "model-00001-of-00001.safetensors"
    shard.unlink()
    shard.symlink_to(other)
    with pytest.raises(InputError) as exc:
        open_checkpoint(folder)
    message = one_line(exc)
    assert "not a safetensors file" in message and "3475" not in message
