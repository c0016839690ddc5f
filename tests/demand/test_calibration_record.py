from __future__ import annotations

import hashlib

from pricepilot.market.calibration import packaged_path
from pricepilot.market.config import scenario


def test_a_calibrated_config_records_the_digest_of_its_fitted_world() -> None:
    record = scenario("oj").to_dict()
    assert record["calibration"] == "oj"
    assert record["calibration_sha256"] == hashlib.sha256(packaged_path("oj").read_bytes()).hexdigest()


def test_an_uncalibrated_config_records_no_digest() -> None:
    assert "calibration_sha256" not in scenario("ecommerce").to_dict()
