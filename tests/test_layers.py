"""The architecture holds at run time too: the leaderboard and the command line's start load no torch, and no
module of the core, the built-in plugins or the leaderboard grows past one room (pyproject's import-linter
contracts, run by .ci/run, check the layers statically)."""

import subprocess
import sys

from conftest import REPO, make_row, stored

NO_TORCH = """
import sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
import benchsuite_leaderboard
app = AppTest.from_file(str(Path(benchsuite_leaderboard.__file__).with_name("app.py")), default_timeout=120).run()
assert not app.exception, app.exception
assert app.dataframe, "the leaderboard showed no table"
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(("benchsuite.grid", "benchsuite.execution")))
print(loaded)
"""


def test_the_leaderboard_app_renders_a_store_without_loading_torch_or_the_runner(tmp_path):
    store = tmp_path / "store"
    stored(store, make_row(), make_row(method="dynamic-int8", params="{}", score=0.8, latency_p50_ms=1.0))
    proc = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "BENCHSUITE_STORE": str(store)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_command_line_starts_without_torch():
    code = ("import sys\nfrom benchsuite.cli import main\ntry:\n    main(['run', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch loaded:', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "usage: benchsuite run" in out and out.strip().endswith("torch loaded: False")


def test_no_module_is_longer_than_400_lines():
    files = [*REPO.glob("benchsuite/**/*.py"), *REPO.glob("plugins/**/*.py"), *REPO.glob("leaderboard/*.py")]
    long = {str(f.relative_to(REPO)): n for f in files if (n := len(f.read_text().splitlines())) > 400}
    assert len(files) > 60 and long == {}


FLAT_PLUGIN = '''
from benchsuite.hardware import machine_info
from benchsuite.interfaces import CompressionMethod
from benchsuite.measure import accuracy, count_flops
from benchsuite.params import Param
from benchsuite.paths import cache_dir
from benchsuite.reference import cached_model
from benchsuite.training import train
from benchsuite import hookimpl


class Flat(CompressionMethod):
    name = "flat-layout"
    parameters = (Param("k", int, 1, "unused"),)

    def apply(self, model, context):
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(Flat)
'''


def test_a_plugin_written_for_the_flat_layout_still_loads_with_a_deprecation_warning(tmp_path):
    (tmp_path / "flat_plugin.py").write_text(FLAT_PLUGIN)
    code = ("import warnings\nwarnings.simplefilter('always')\nfrom benchsuite.discovery.loader import load_plugins\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            f"    plugins = load_plugins({str(tmp_path)!r}, strict=True)\n"
            "print(plugins.methods.get('flat-layout').__name__)\n"
            "print(sorted({str(w.message).split()[0] for w in caught if w.category is DeprecationWarning}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[-2] == "Flat"
    assert lines[-1] == str(sorted(["benchsuite.hardware", "benchsuite.interfaces", "benchsuite.params",
                                    "benchsuite.paths", "benchsuite.reference", "benchsuite.training"]))
