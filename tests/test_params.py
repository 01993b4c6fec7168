from dataclasses import dataclass
from typing import Optional

import pytest

from imrestore.errors import ParameterError
from imrestore.params import coerce_value, param, params_of, validate_params


@dataclass
class Thing:
    sigma: float = param(25.0, min=0, max=255, help="noise")
    n: int = param(3, min=1, max=10, help="count")
    flag: bool = param(False, help="switch")
    mode: str = param("a", choices=("a", "b"), help="mode")
    opt: Optional[float] = param(None, min=0, min_exclusive=True, help="optional")


def info(name):
    return {p.name: p for p in params_of(Thing)}[name]


def test_declared_parameters_are_listed_with_type_range_and_help():
    infos = params_of(Thing)
    assert [p.name for p in infos] == ["sigma", "n", "flag", "mode", "opt"]
    assert info("sigma").range_text == "[0, 255]"
    assert info("opt").range_text == "(0, inf]"
    assert info("mode").range_text == "one of a|b"
    assert info("opt").type_name == "float or none"
    assert info("n").help == "count"


@pytest.mark.parametrize(
    "name,text,expected",
    [("sigma", "3", 3.0), ("n", "4", 4), ("flag", "true", True), ("flag", "0", False), ("mode", "b", "b"), ("opt", "none", None)],
)
def test_strings_are_coerced_by_declared_type(name, text, expected):
    value = coerce_value(info(name), text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "name,text,match",
    [
        ("sigma", "abc", "expected float in \\[0, 255\\]"),
        ("sigma", "300", "out of range"),
        ("n", "3.5", "expected int"),
        ("n", "0", "out of range"),
        ("flag", "maybe", "expected bool"),
        ("mode", "c", "one of a\\|b"),
        ("opt", "0", "out of range"),
        ("sigma", "nan", "invalid value"),
        ("sigma", "none", "a value is required"),
    ],
)
def test_bad_values_say_the_expected_type_and_range(name, text, match):
    with pytest.raises(ParameterError, match=match):
        coerce_value(info(name), text, owner="thing")


def test_validate_params_coerces_in_place():
    t = Thing(sigma=3, n=2)
    validate_params(t)
    assert t.sigma == 3.0 and isinstance(t.sigma, float)
    t.n = 99
    with pytest.raises(ParameterError, match="n: 99 is out of range"):
        validate_params(t)
