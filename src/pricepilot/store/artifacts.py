"""Policy artifacts as bytes: a directory written by ``Policy.save`` packed into one gzipped tar, and
unpacked again (safely: no absolute paths, links or files outside the target)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from pricepilot.store.engine import StoreError


def pack_dir(path: str | os.PathLike[str]) -> bytes:
    """The files of directory ``path`` (for example a saved policy) as gzipped tar bytes."""
    folder = Path(path)
    if not folder.is_dir():
        raise StoreError(f"cannot pack {folder}: not a directory")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                tar.add(file, arcname=file.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack_dir(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Unpack bytes from :func:`pack_dir` into directory ``path`` (created); return it."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise StoreError(f"artifact is not a packed directory ({err})") from err
    return folder
