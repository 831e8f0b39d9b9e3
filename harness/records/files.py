"""Whole-file checks of the files a run reads back (tensors), without loading them."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole safetensors file (truncated, empty, not safetensors), or None. Reads only
    the header: the data's extent it declares must be the file's size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) < 8:
                return f"{size} bytes: too short for a safetensors file"
            (header_len,) = struct.unpack("<Q", raw)
            if header_len > size - 8:
                return "truncated or not a safetensors file (header runs past the end)"
            header = json.loads(handle.read(header_len))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return f"not a safetensors file ({type(err).__name__})"
    ends = [entry["data_offsets"][1] for k, entry in header.items() if k != "__metadata__"]
    if 8 + header_len + max(ends, default=0) != size:
        return "truncated (its header declares more data than the file holds)"
    return None
