"""Bad input that once ended the host badly: a plugin that exits (or raises another BaseException) as it is
imported or registered, and a leaderboard port that is out of range or taken. Each is one line on stderr, no
traceback, and the well-behaved plugins beside a hostile one still load. See tests/plugins/hostile/exiting/."""

import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from benchsuite.discovery.loader import load_plugins
from benchsuite.errors import PluginError
from benchsuite.results.store import ResultStore

from conftest import GOOD, HERE, cli

EXITING = HERE / "plugins" / "hostile" / "exiting"

#: hostile plugin file -> what the one-line report says it raised
RAISES = {
    "exits_at_import": 'Error importing plugin "exits_at_import": SystemExit(3)',
    "exits_in_hook": 'plugin "exits_in_hook" failed to register: SystemExit(4)',
    "raises_base_exception": 'Error importing plugin "raises_base_exception": Abort: not today',
    "raises_generator_exit": 'Error importing plugin "raises_generator_exit": GeneratorExit',
}


def beside_good(folder, *hostile):
    """A plugins folder holding the good toy plugins and the named hostile files (from EXITING, or (name, source)
    pairs written as given)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in GOOD.glob("*.py"):
        shutil.copy(source, folder / source.name)
    for item in hostile:
        if isinstance(item, tuple):
            (folder / f"{item[0]}.py").write_text(item[1])
        else:
            shutil.copy(EXITING / f"{item}.py", folder / f"{item}.py")
    return folder


def good_plugins_loaded(plugins_output: str) -> bool:
    """Whether `benchsuite plugins` lists the toy plugins as loaded, with what they register."""
    lines = {line.split()[0]: line for line in plugins_output.splitlines() if line.strip()}
    return ("method:toy-halve" in lines.get("toy_methods", "") and "task:toy-blobs" in lines.get("toy_task", "")
            and "[failed" not in lines["toy_methods"] + lines["toy_task"])


# --- a plugin that exits or raises a BaseException -----------------------------------------------------------------

@pytest.mark.parametrize("hostile", sorted(RAISES))
def test_a_plugin_that_exits_is_reported_in_one_line_and_skipped(hostile, tmp_path):
    folder = beside_good(tmp_path / "plugins", hostile)
    proc = cli("plugins", "--plugins-dir", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    [warning] = proc.stderr.splitlines()
    assert warning.startswith(f"benchsuite: warning: {RAISES[hostile]} (from {folder / hostile}.py)"), warning
    assert warning.endswith("; skipped (use --strict-plugins to make this fatal)")
    assert f"[failed: {RAISES[hostile]}" in proc.stdout
    assert good_plugins_loaded(proc.stdout), proc.stdout


@pytest.mark.parametrize("hostile", sorted(RAISES))
def test_a_plugin_that_exits_is_fatal_by_name_under_strict_plugins(hostile, tmp_path):
    folder = beside_good(tmp_path / "plugins", hostile)
    proc = cli("plugins", "--plugins-dir", str(folder), "--strict-plugins")
    assert proc.returncode == 1 and proc.stdout == ""
    [error] = proc.stderr.splitlines()
    assert error == f"benchsuite: error: {RAISES[hostile]} (from {folder / hostile}.py) (--strict-plugins is set)"


def test_the_loader_skips_every_exiting_plugin_and_keeps_the_rest(tmp_path):
    warnings = []
    plugins = load_plugins(beside_good(tmp_path / "plugins", *RAISES), warn=warnings.append)
    failed = {name: info.error for name, info in plugins.infos.items() if info.status == "failed"}
    assert set(failed) == set(RAISES) and all(failed[name].startswith(RAISES[name]) for name in RAISES)
    assert len(warnings) == len(RAISES)
    assert {"toy-halve", "baseline"} <= set(plugins.methods.names()) and "toy-blobs" in plugins.tasks.names()
    assert "exits_in_hook" not in plugins.manager.list_name_plugin()  # unregistered, its hooks never called again
    with pytest.raises(PluginError, match=r'"exits_at_import": SystemExit\(3\)'):
        load_plugins(tmp_path / "plugins", strict=True)


def test_a_ctrl_c_while_plugins_load_still_interrupts(tmp_path):
    """KeyboardInterrupt is the one BaseException a plugin's import may not swallow into a warning: it is the
    user's Ctrl-C (raised here by the plugin, as a SIGINT would be), and it ends the command."""
    folder = beside_good(tmp_path / "plugins", ("ctrl_c", "raise KeyboardInterrupt\n"))
    with pytest.raises(KeyboardInterrupt):
        load_plugins(folder, warn=pytest.fail)
    proc = cli("plugins", "--plugins-dir", str(folder))
    assert proc.returncode == 130 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["benchsuite: interrupted; rows already measured are kept in the store"]


def installed_plugin(root, dist: str, entry_point: str, source: str) -> str:
    """An installed distribution `dist` (a .dist-info folder in `root`) whose benchsuite entry point
    `entry_point` is a module with `source`; returns the folder to put on sys.path."""
    module = entry_point.replace("-", "_") + "_module"
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[benchsuite]\n{entry_point} = {module}\n")
    (root / f"{module}.py").write_text(source)
    return str(root)


def test_an_installed_plugin_that_exits_is_reported_by_name_and_skipped(tmp_path, monkeypatch):
    site = installed_plugin(tmp_path / "site", "benchsuite-exits", "exits-on-import", "import sys\nsys.exit(5)\n")
    path = {"PYTHONPATH": os.pathsep.join(filter(None, (site, os.environ.get("PYTHONPATH"))))}
    expected = 'Error importing plugin "exits-on-import": SystemExit(5) (from benchsuite-exits)'
    proc = cli("plugins", "--plugins-dir", str(GOOD), env=path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    [warning] = proc.stderr.splitlines()
    assert warning == f"benchsuite: warning: {expected}; skipped (use --strict-plugins to make this fatal)"
    assert good_plugins_loaded(proc.stdout) and "builtin.methods.baseline" in proc.stdout
    proc = cli("plugins", "--strict-plugins", env=path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"benchsuite: error: {expected} (--strict-plugins is set)"]
    monkeypatch.syspath_prepend(site)  # the same in this process
    monkeypatch.delitem(sys.modules, "exits_on_import_module", raising=False)
    plugins = load_plugins(warn=lambda m: None)
    assert plugins.infos["exits-on-import"].status == "failed" and "baseline" in plugins.methods.names()


def test_a_run_goes_on_without_a_plugin_that_exits_and_says_so_once(tmp_path, toy_cache):
    folder = beside_good(tmp_path / "plugins", "exits_at_import")
    # the default isolation: each configuration in a worker process, which loads the plugins again
    proc = cli("run", "--quick", "--task", "toy-blobs", "--method", "toy-halve", "--backend", "torch-cpu",
               "--plugins-dir", str(folder), "--store", str(tmp_path / "store"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and 'plugin "exits_at_import": SystemExit(3)' in warnings[0]
    rows = ResultStore(tmp_path / "store").read().to_dict("records")
    assert {(r["method"], r["status"]) for r in rows} == {("baseline", "ok"), ("toy-halve", "ok")}  # and its baseline


# --- the leaderboard's port ----------------------------------------------------------------------------------------

def refused_leaderboard(*args: str) -> subprocess.CompletedProcess:
    """`benchsuite leaderboard ARGS`, which should refuse at once. A server that starts instead (before the port
    was checked, `--port 0` served on a random port) is stopped after 60 s, with its Streamlit child, and fails."""
    proc = subprocess.Popen([sys.executable, "-m", "benchsuite.cli", "leaderboard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"benchsuite leaderboard {' '.join(args)} served instead of refusing")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
def test_a_port_out_of_range_is_a_one_line_usage_error(port, tmp_path):
    proc = refused_leaderboard("--port", port, "--store", str(tmp_path / "store"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"benchsuite: error: --port {port} is not a TCP port; "
                                        "pass a number from 1 to 65535 (default 8501)"]


def test_a_port_in_use_is_one_line_naming_the_port_and_the_fix(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = refused_leaderboard("--port", str(port), "--store", str(tmp_path / "store"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"benchsuite: error: port {port} on 127.0.0.1 is already in use (another "
                                        "leaderboard?); stop what holds it or pass another --port"]
