import pytest

from benchsuite.errors import ParamError
from benchsuite.sdk.params import Param, format_spec, parse_spec, parse_values, resolve_params

PARAMS = (Param("sparsity", float, 0.5, min=0.0, max=0.99), Param("finetune_steps", int, 0, min=0),
          Param("scope", str, "global", choices=("global", "layer")), Param("bias", bool, False))


def test_spec_parses_name_and_pairs():
    spec = parse_spec("magnitude-pruning:sparsity=0.5, finetune_steps=200")
    assert spec.name == "magnitude-pruning"
    assert spec.raw_params == (("sparsity", "0.5"), ("finetune_steps", "200"))
    assert parse_spec("baseline").raw_params == ()


def test_values_are_typed_and_defaults_filled():
    values = parse_values("m", PARAMS, parse_spec("m:sparsity=0.7,bias=yes").raw_params)
    assert values == {"sparsity": 0.7, "finetune_steps": 0, "scope": "global", "bias": True}
    assert isinstance(values["sparsity"], float)


@pytest.mark.parametrize("text, fragment", [
    ("m:sparsty=0.5", "'m' has no parameter 'sparsty'; it accepts: sparsity, finetune_steps, scope, bias"),
    ("m:sparsity=lots", "parameter 'sparsity' got 'lots'; it accepts a number from 0.0 to 0.99"),
    ("m:sparsity=1.5", "parameter 'sparsity' got 1.5; it accepts a number from 0.0 to 0.99"),
    ("m:finetune_steps=2.5", "parameter 'finetune_steps' got '2.5'; it accepts an integer >= 0"),
    ("m:scope=random", "parameter 'scope' got 'random'; it accepts one of global, layer"),
    ("m:bias=maybe", "parameter 'bias' got 'maybe'; it accepts true or false"),
    ("m:sparsity=nan", "got NaN"),
])
def test_bad_values_name_the_parameter_and_what_it_accepts(text, fragment):
    with pytest.raises(ParamError) as err:
        parse_values("m", PARAMS, parse_spec(text).raw_params)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["m:sparsity", "m:=3", ":a=1", "m:a=1,a=2"])
def test_malformed_specs_are_rejected(text):
    with pytest.raises(ParamError):
        parse_spec(text)


def test_python_api_validates_types():
    with pytest.raises(ParamError, match="it accepts an integer"):
        resolve_params("m", PARAMS, {"finetune_steps": "3"})
    assert resolve_params("m", PARAMS, {"sparsity": 0})["sparsity"] == 0.0


def test_format_spec_round_trips():
    values = {"sparsity": 0.7, "bias": True}
    text = format_spec("m", values)
    assert text == "m:sparsity=0.7,bias=true"
    assert parse_values("m", PARAMS, parse_spec(text).raw_params)["bias"] is True
