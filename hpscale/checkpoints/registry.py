"""The checkpoint formats hpscale reads, and how a file is matched to one.

Adding a format is one module (a :class:`~hpscale.checkpoints.base.Source` subclass and
its :class:`~hpscale.checkpoints.base.Format` record) plus its line in :data:`FORMATS`.
A file is claimed by its suffix first; otherwise each format's ``sniff`` looks at the
first bytes, in the order of :data:`FORMATS` (the zip formats first: torch before npz, as
both are zip archives and only torch's holds a ``data.pkl``).
"""

from __future__ import annotations

from pathlib import Path

from hpscale.checkpoints import npz, pytorch, safetensors
from hpscale.checkpoints.base import Format, Source, safe_open
from hpscale.errors import InputError

FORMATS: tuple[Format, ...] = (
    pytorch.FORMAT,
    npz.FORMAT,
    safetensors.FORMAT,
)
"""Every format, in sniffing order."""

CHECKPOINT_SUFFIXES = tuple(s for fmt in FORMATS for s in fmt.suffixes)
"""File names a model directory's single checkpoint file may end with."""


def sniff(path: Path) -> Format:
    """The format of ``path``: from the suffix, else from the first bytes."""
    suffix = path.suffix.lower()
    for fmt in FORMATS:
        if suffix in fmt.suffixes:
            return fmt
    fh, size = safe_open(path)
    with fh:
        head = fh.read(9)
    for fmt in FORMATS:
        if fmt.sniff(path, head, size):
            return fmt
    raise InputError(
        f"{path}: not a checkpoint: expected .safetensors, .npz or .pt/.pth/.bin "
        "(PyTorch, needs torch), or a Hugging Face model directory"
    )


def open_file(path: Path) -> Source:
    """Open one checkpoint file with the reader of its format."""
    return sniff(path).open(path)
