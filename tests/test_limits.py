"""The worker limits (benchsuite/execution/limits.py): --memory-limit spellings, --time-limit, and the one-line
UsageError every bad value gives."""

import pytest

from benchsuite.errors import UsageError
from benchsuite.execution.limits import (DEFAULT_MEMORY_FRACTION, DEFAULT_TIME_LIMIT_SECONDS, Limits, limits_of,
                                         parse_memory, physical_memory_bytes)

GiB, MiB = 2**30, 2**20


@pytest.mark.parametrize("text, size", [
    ("8GiB", 8 * GiB), ("8gib", 8 * GiB), ("8G", 8 * GiB), ("2g", 2 * GiB), ("8GB", 8 * 10**9),
    ("512MiB", 512 * MiB), ("512MB", 512 * 10**6), ("512m", 512 * MiB), ("4k", 4096), ("4kB", 4000),
    ("1T", 2**40), ("1TB", 10**12), ("2000000000", 2_000_000_000), ("100b", 100), ("1.5GiB", int(1.5 * GiB)),
    (" 1.5 GiB ", int(1.5 * GiB)),  # spaces around and between are allowed
])
def test_parse_memory_reads_binary_and_decimal_units(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["lots", "", "0", "0GiB", "-1GiB", "8XB", "8 G B", "1e9", "GiB", "8GiB8", ".5G",
                                  "8,5G"])
def test_parse_memory_refuses_anything_else_in_one_line(text):
    with pytest.raises(UsageError) as info:
        parse_memory(text)
    assert str(info.value) == f"--memory-limit got {text!r}; give a size like 8GiB, 512MiB or 2000000000"


def test_limits_default_to_half_an_hour_and_three_quarters_of_the_memory():
    limits = Limits()
    assert limits.time_limit_seconds == DEFAULT_TIME_LIMIT_SECONDS == 1800
    assert limits.memory_limit_bytes == int(physical_memory_bytes() * DEFAULT_MEMORY_FRACTION) > 0
    assert Limits(60, 123).memory_limit_bytes == 123  # an explicit limit is kept as given


@pytest.mark.parametrize("time_limit, memory, message", [
    (0, 0, "time limit 0 s is not > 0; give seconds, e.g. 1800"),
    (-5, 0, "time limit -5 s is not > 0; give seconds, e.g. 1800"),
    (float("nan"), 0, "time limit nan s is not > 0; give seconds, e.g. 1800"),
    (60, -1, "memory limit -1 bytes is negative; give e.g. 8GiB"),
])
def test_bad_limits_are_refused_in_one_line(time_limit, memory, message):
    with pytest.raises(UsageError) as info:
        Limits(time_limit, memory)
    assert str(info.value) == message


def test_limits_of_reads_the_command_lines_spelling():
    assert limits_of(600, "1GiB") == Limits(600, GiB)
    assert limits_of(None, None) == Limits()  # neither given: the defaults
    assert limits_of(None, "512MiB") == Limits(DEFAULT_TIME_LIMIT_SECONDS, 512 * MiB)
    assert limits_of(0.5, None).time_limit_seconds == 0.5


@pytest.mark.parametrize("time_limit, memory, message", [
    (0, None, "--time-limit got 0; give the seconds a phase may take, e.g. 1800"),
    (-1.5, "1GiB", "--time-limit got -1.5; give the seconds a phase may take, e.g. 1800"),
    (float("nan"), None, "--time-limit got nan; give the seconds a phase may take, e.g. 1800"),
    (60, "lots", "--memory-limit got 'lots'; give a size like 8GiB, 512MiB or 2000000000"),
    (60, "0", "--memory-limit got '0'; give a size like 8GiB, 512MiB or 2000000000"),
])
def test_limits_of_refuses_a_bad_option_in_one_line_naming_it(time_limit, memory, message):
    with pytest.raises(UsageError) as info:
        limits_of(time_limit, memory)
    assert str(info.value) == message and "\n" not in message
