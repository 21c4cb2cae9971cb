"""`benchsuite new-plugin`: bad input is one line and writes nothing; the package it writes installs, registers
through its entry point and passes its own test untouched."""

import os
import subprocess
import sys

import pytest

from benchsuite.errors import UsageError
from benchsuite.discovery.scaffold import check_name, render

from conftest import cli, one_line_error, snapshot


def assert_one_line_usage_error(proc, *fragments):
    line = one_line_error(proc)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert proc.stdout == ""


@pytest.mark.parametrize("name, problem, fix", [
    ("My Plugin!", "contains 'M', ' ', 'P', '!'", "e.g. 'my-plugin'"),
    ("1abc", "starts with '1'", "starting with a letter"),
    ("", "the plugin name is empty", "e.g. 'my-pruning'"),
    ("baseline", "'baseline' is already registered", "e.g. 'my-baseline'"),
    ("magnitude-pruning", "'magnitude-pruning' is already registered", "choose another NAME"),
])
def test_bad_name_is_one_line_and_writes_nothing(name, problem, fix, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the default ./benchsuite-NAME would go
    assert_one_line_usage_error(cli("new-plugin", name), problem, fix)
    assert snapshot(tmp_path) == {}


def test_output_folder_that_is_not_empty_is_left_alone(tmp_path):
    out = tmp_path / "taken"
    (out / "src").mkdir(parents=True)
    (out / "src" / "mine.py").write_text("x = 1\n")
    before = snapshot(tmp_path)
    assert_one_line_usage_error(cli("new-plugin", "my-pruning", "--output", str(out)), str(out), "is not empty",
                                "new or empty folder")
    assert snapshot(tmp_path) == before


def test_output_that_is_a_file_is_left_alone(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("keep me\n")
    before = snapshot(tmp_path)
    assert_one_line_usage_error(cli("new-plugin", "my-pruning", "--output", str(out)), str(out), "is a file",
                                "--output")
    assert snapshot(tmp_path) == before


def test_names_that_would_clash_or_read_badly_are_refused():
    for name, fragment in [("my_pruning", "e.g. 'my-pruning'"), ("a--b", "two in a row"), ("a" * 41, "41 characters"),
                           ("benchsuite-x", "leave out the 'benchsuite-' prefix"),
                           ("plugins", "benchsuite_plugins is already importable")]:
        with pytest.raises(UsageError) as info:
            check_name(name)
        assert fragment in str(info.value), (name, str(info.value))
    check_name("int8-v2", taken={"baseline"})


def test_rendered_package_is_well_formed():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    files = {str(path): text for path, text in render("my-pruning").items()}
    assert set(files) == {"pyproject.toml", "README.md", "benchsuite_my_pruning.py", "tests/test_my_pruning.py"}
    project = tomllib.loads(files["pyproject.toml"])["project"]
    assert project["name"] == "benchsuite-my-pruning" and "benchsuite" in project["dependencies"]
    assert project["entry-points"]["benchsuite"] == {"my-pruning": "benchsuite_my_pruning"}
    for path in ("benchsuite_my_pruning.py", "tests/test_my_pruning.py"):
        compile(files[path], path, "exec")
    assert 'name = "my-pruning"' in files["benchsuite_my_pruning.py"]
    assert 'version = "0.1.0"' in files["benchsuite_my_pruning.py"]


@pytest.mark.slow
def test_scaffold_installs_registers_and_passes_its_own_test(tmp_path, monkeypatch):
    from benchsuite.sdk.paths import cache_dir

    monkeypatch.chdir(tmp_path)
    made = cli("new-plugin", "my-pruning", check=0)
    folder = tmp_path / "benchsuite-my-pruning"
    assert "tests/test_my_pruning.py" in made.stdout and folder.is_dir()
    written = snapshot(folder)

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(folder)], check=True, capture_output=True, text=True)
    env = {"PYTHONPATH": str(site)}
    line = next(l for l in cli("plugins", env=env, check=0).stdout.splitlines() if l.startswith("my-pruning "))
    assert "benchsuite-my-pruning 0.1.0" in line and "method:my-pruning" in line

    # the real cache: mnist-cnn's reference model is reused, not retrained
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_my_pruning.py"],
                          cwd=folder, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env, "BENCHSUITE_CACHE": str(cache_dir())})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
    assert {p: b for p, b in snapshot(folder).items() if p in written} == written  # its files untouched
