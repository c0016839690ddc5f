from __future__ import annotations

from pathlib import Path

import pytest

OPEN_BANDIT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "open_bandit"


@pytest.fixture
def open_bandit_path() -> Path:
    """The Open Bandit Dataset sample beside the repository; the test skips when it is absent."""
    if not (OPEN_BANDIT / "random" / "men" / "men.csv").is_file():
        pytest.skip(f"Open Bandit Dataset sample not found at {OPEN_BANDIT}")
    return OPEN_BANDIT
