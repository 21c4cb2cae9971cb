import pytest

from benchsuite import CompressionMethod
from benchsuite.errors import DuplicateNameError, PluginError, UnknownNameError
from benchsuite.discovery.registry import Registry


class A(CompressionMethod):
    name = "magnitude-pruning"

    def apply(self, model, context):
        return model


class B(A):
    pass


def test_duplicate_names_both_plugins():
    reg = Registry("method", CompressionMethod)
    reg.add(A, "plugin-one")
    with pytest.raises(DuplicateNameError) as err:
        reg.add(B, "plugin-two")
    assert '"plugin-one"' in str(err.value) and '"plugin-two"' in str(err.value)


def test_unknown_name_suggests_and_lists():
    reg = Registry("method", CompressionMethod)
    reg.add(A, "p")
    with pytest.raises(UnknownNameError) as err:
        reg.get("magnitude-prunning")
    assert str(err.value) == ("Unknown method 'magnitude-prunning'. Did you mean 'magnitude-pruning'? "
                              "Available: magnitude-pruning")


def test_wrong_type_and_bad_name_are_refused():
    reg = Registry("method", CompressionMethod)
    with pytest.raises(PluginError, match="subclass of benchsuite.CompressionMethod"):
        reg.add(object, "p")

    class Bad(A):
        name = "has space"

    with pytest.raises(PluginError, match="invalid name"):
        reg.add(Bad, "p")
