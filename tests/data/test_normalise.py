from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pricepilot.data import Normaliser, NotFittedError


def test_standard_round_trip_through_json() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"price": rng.normal(10, 2, 500), "age": rng.normal(40, 9, 500), "const": 1.0})
    normaliser = Normaliser().fit(train)
    z = normaliser.transform(train)
    np.testing.assert_allclose(z[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1, atol=1e-12)
    np.testing.assert_array_equal(z[:, 2], 0)  # constant column: scale 1, no division by zero
    restored = Normaliser.from_dict(json.loads(json.dumps(normaliser.to_dict())))
    later = train.iloc[:7][["const", "age", "price"]]  # columns matched by name, not position
    np.testing.assert_array_equal(restored.transform(later), z[:7])
    np.testing.assert_allclose(restored.inverse_transform(z), train.to_numpy())


def test_minmax_on_arrays() -> None:
    x = np.array([[0.0, 10.0], [5.0, 20.0], [10.0, 30.0]])
    normaliser = Normaliser(method="minmax")
    np.testing.assert_allclose(normaliser.fit_transform(x), [[0, 0], [0.5, 0.5], [1, 1]])
    assert normaliser.columns_ == ("x0", "x1")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: Normaliser().transform(np.ones((2, 2))), NotFittedError, "not fitted"),
        (lambda: Normaliser().to_dict(), NotFittedError, "fitted"),
        (lambda: Normaliser(method="zscore"), ValueError, "unknown normalisation"),  # type: ignore[arg-type]
        (lambda: Normaliser().fit(np.ones(3)), ValueError, r"shape \(n, d\)"),
        (lambda: Normaliser().fit(np.ones((2, 2))).transform(np.ones((2, 3))), ValueError, "fitted on 2"),
        (
            lambda: Normaliser().fit(pd.DataFrame({"a": [1.0]})).transform(pd.DataFrame({"b": [1.0]})),
            ValueError,
            r"\['a'\]",
        ),
        (lambda: Normaliser.from_dict({"format": 99}), ValueError, "format"),
    ],
)
def test_errors(call: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]
