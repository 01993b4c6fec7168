"""The plugin interfaces (imrestore/interfaces.py): one table of kinds, specs, the restorer contract."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imrestore.interfaces import (
    CHAIN_KINDS,
    IO_KINDS,
    KINDS,
    PLUGIN_KINDS,
    SPEC_KINDS,
    Image,
    Restorer,
)
from imrestore.params import param


def test_one_table_of_kinds():
    assert KINDS == ("corruption", "restorer", "metric", "reader", "writer", "volume", "noise-model")
    assert set(CHAIN_KINDS) <= set(SPEC_KINDS) and "volume" not in SPEC_KINDS
    assert IO_KINDS == ("reader", "writer", "volume")
    assert all(issubclass(PLUGIN_KINDS[k].base, object) and PLUGIN_KINDS[k].hook.startswith("register_") for k in KINDS)


def test_a_restorer_knows_its_spec_and_restores_a_batch():
    @dataclass
    class Halve(Restorer):
        name = "halve"
        factor: float = param(0.5, min=0, help="multiplier")

        def restore_one(self, image, degradation):
            return image * self.factor

    r = Halve(factor=0.25)
    assert r.spec == "restorer:halve:factor=0.25"
    out = r.restore([np.ones((2, 2), np.float32), np.full((2, 2), 2, np.float32)])
    assert [o.max() for o in out] == [0.25, 0.5]


def test_image_with_data_keeps_what_writing_needs():
    img = Image(np.zeros((2, 2), np.float32), dtype=np.dtype("uint16"), value_range=(0.0, 65535.0), metadata={"a": 1})
    new = img.with_data(np.ones((2, 2), np.float32))
    assert new.dtype == img.dtype and new.value_range == img.value_range and new.metadata == {"a": 1}


def test_a_noise_model_without_an_estimator_asks_for_its_parameters():
    import pytest

    from imrestore.errors import ParameterError
    from imrestore.interfaces import NoiseModel

    class Fixed(NoiseModel):
        name = "fixed-only"

        def variance(self, signal):
            return 0.01

        def stabilise(self, image):
            return image / 0.1

        def unstabilise(self, stabilised):
            return stabilised * 0.1

    with pytest.raises(ParameterError, match="cannot be estimated from an image; give its parameters"):
        Fixed.estimate(np.zeros((4, 4)))
