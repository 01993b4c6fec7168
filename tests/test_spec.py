import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import imrestore
from imrestore.errors import ParameterError, SpecError
from imrestore.spec import Spec, format_spec, parse_spec

names = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
values = st.text(alphabet=st.characters(blacklist_characters=",[]", blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=12)
kinds = st.sampled_from([None, "corruption", "restorer", "metric"])


@given(kind=kinds, name=names, params=st.dictionaries(keys, values, max_size=4))
def test_format_then_parse_round_trips(kind, name, params):
    params = {k: v.strip() for k, v in params.items()}
    text = format_spec(kind, name, params)
    assert parse_spec(text) == Spec(kind, name, params)


@given(st.text(max_size=30))
def test_parser_never_fails_with_anything_but_spec_error(text):
    try:
        spec = parse_spec(text)
    except SpecError:
        return
    assert spec.name and (spec.kind is None or spec.kind in ("corruption", "restorer", "metric", "reader", "writer"))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("blur:sigma=4", Spec(None, "blur", {"sigma": "4"})),
        ("restorer:conv-ae:weights=m.safetensors", Spec("restorer", "conv-ae", {"weights": "m.safetensors"})),
        ("kspace:acceleration=4,center_fraction=0.08", Spec(None, "kspace", {"acceleration": "4", "center_fraction": "0.08"})),
        ("restorer:x:path=vol.h5:/data", Spec("restorer", "x", {"path": "vol.h5:/data"})),
        ("identity", Spec(None, "identity", {})),
    ],
)
def test_examples_from_the_design(text, expected):
    assert parse_spec(text) == expected


@pytest.mark.parametrize("text", ["", "restorer:", "blur:", "blur:sigma", "blur:=3", "blur:sigma=1,sigma=2", "9lives", "a b"])
def test_malformed_specs_are_spec_errors(text):
    with pytest.raises(SpecError):
        parse_spec(text)


def test_build_from_spec_or_keywords():
    assert imrestore.build("gaussian:sigma=10").sigma == 10.0
    assert imrestore.build("gaussian", sigma=10).spec == "corruption:gaussian:sigma=10.0,clip=false,sigma_max=none"
    assert imrestore.build("awgn").name == "gaussian"  # alias


def test_unknown_name_lists_close_matches():
    with pytest.raises(SpecError, match="did you mean 'gaussian'"):
        imrestore.build("gausian:sigma=25")


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ParameterError, match="unknown parameter 'sgma'; did you mean 'sigma'.*valid keys: sigma, clip, sigma_max"):
        imrestore.build("gaussian:sgma=25")


def test_wrong_kind_is_refused():
    with pytest.raises(SpecError, match="unknown restorer 'gaussian'"):
        imrestore.build("restorer:gaussian")


def test_ambiguous_name_asks_for_the_kind(registry):
    from dataclasses import dataclass

    from imrestore import Metric, hookimpl

    @dataclass
    class Blur(Metric):
        name = "blur"

        def compute(self, reference, estimate):
            return 0.0

    class Plug:
        @hookimpl
        def register_metrics(self, register):
            register(Blur)

    registry.add_plugin(Plug(), "ambiguous-test")
    with pytest.raises(SpecError, match="ambiguous; say which kind: corruption:blur, metric:blur"):
        imrestore.build("blur")
    assert imrestore.build("metric:blur").kind == "metric"


def test_nested_spec_round_trips():
    from imrestore.spec import parse_spec

    text = "restorer:pnp:denoiser=[bm3d:profile=np,sigma=10],iterations=8"
    spec = parse_spec(text)
    assert spec.params == {"denoiser": "bm3d:profile=np,sigma=10", "iterations": "8"}
    assert str(spec) == text and parse_spec(str(spec)) == spec
    deeper = parse_spec("a:x=[b:y=[c:z=1,w=2],v=3],u=4")
    assert deeper.params == {"x": "b:y=[c:z=1,w=2],v=3", "u": "4"}
    assert parse_spec(deeper.params["x"]).params == {"y": "c:z=1,w=2", "v": "3"}
    assert parse_spec(str(deeper)) == deeper


@pytest.mark.parametrize("text,says", [("pnp:denoiser=[bm3d", "without its ']'"), ("pnp:denoiser=bm3d]", "without its '['"),
                                       ("pnp:denoiser=[]", "empty brackets"), ("pnp:denoiser=[bm3d]x", "after the closing")])
def test_nested_spec_errors_are_one_line(text, says):
    from imrestore.errors import SpecError
    from imrestore.spec import parse_spec

    with pytest.raises(SpecError, match=re.escape(says)) as info:
        parse_spec(text)
    assert "\n" not in str(info.value)
