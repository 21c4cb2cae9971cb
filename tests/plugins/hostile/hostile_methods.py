"""A hostile method plugin for tests: a legal name, and markup, format strings, printf directives, shell
substitutions and markdown links in every other string it hands to benchsuite."""

from benchsuite import CompressionMethod, Param, hookimpl

PAYLOAD = ("<img src=x onerror=alert(1)> {0.__class__.__mro__} %s%n $(touch /tmp/pwned) `touch /tmp/pwned` "
           "[x](javascript:alert(1))")
#: legal: no spaces, ':', ',', '>' or '='
NAME = "hostile$(touch${IFS}/tmp/pwned){0}%s<img"


class Hostile(CompressionMethod):
    name = NAME
    family = "other"
    version = "1"
    description = PAYLOAD
    deterministic = True
    parameters = (Param("mode", str, "fail", "fail raises an error; pass returns the model. " + PAYLOAD,
                        choices=("fail", "pass")),)
    standard_configs = ({"mode": "pass"},)

    def apply(self, model, context):
        if self.params["mode"] == "fail":
            raise RuntimeError(PAYLOAD)
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(Hostile)
