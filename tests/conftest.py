"""Shared fixtures. PostgreSQL: one private throwaway cluster per test session (``pg_admin_url``), a
fresh database per test (``pg_url``), used by the store's and the service's tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import pricepilot as pp
from pricepilot.store import make_engine
from pricepilot.store.pgcluster import ClusterUnavailableError, private_cluster


@pytest.fixture
def market() -> pp.market.Market:
    """A small e-commerce market, quick to build."""
    return pp.market.make("ecommerce", seed=7, n_items=20, n_visitors=2_000)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


PG_ENV = "PRICEPILOT_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a PostgreSQL database on a server where this session may create databases."""
    url = os.environ.get(PG_ENV)
    if url:
        yield url
        return
    with ExitStack() as stack:
        try:
            admin_url = stack.enter_context(private_cluster(fsync=False))
        except ClusterUnavailableError as err:
            pytest.skip(f"{err}, and {PG_ENV} is unset")
        yield admin_url


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"pricepilot_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
