"""The leaderboard: its pandas logic (without Streamlit) and every page and widget of the app (AppTest)."""

import io
import shlex
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from benchsuite.cli.parser import build_parser
from benchsuite.results.store import ResultStore
from benchsuite.results.frames import to_frame
from benchsuite_leaderboard import charts, constraints, data, pareto, runs
from benchsuite_leaderboard.markup import plain

from conftest import REPO, make_row

APP = str(REPO / "leaderboard" / "app.py")
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
HOSTILE = "<img src=x onerror=alert(1)>"
MACHINE = dict(hardware_fingerprint="aaaa1111", cpu_model="EPYC", cpu_cores=2, gpu="")
OTHER_MACHINE = dict(hardware_fingerprint="bbbb2222", cpu_model="Xeon", cpu_cores=8, gpu="")


def row(**overrides):
    base = dict(task="mnist-cnn", task_version="1", metric="accuracy", created_at=T0, method_family="other",
                latency_b1_p50_ms=1.0, batch_size=32, eval_samples=1000, track="closed", **MACHINE)
    return make_row(**{**base, **overrides})


def rows():
    return [
        row(method="baseline", score=0.99, score_ci_low=0.98, score_ci_high=0.995, latency_p50_ms=4.0,
            latency_p50_ci_low_ms=3.9, latency_p50_ci_high_ms=4.1, model_size_bytes=1000, realized_speedup=1.0,
            size_ratio=1.0),
        row(method="dynamic-int8", method_family="quantization", score=0.985, score_ci_low=0.975,
            score_ci_high=0.99, latency_p50_ms=3.0, latency_p50_ci_low_ms=2.9, latency_p50_ci_high_ms=3.1,
            latency_b1_p50_ms=0.8, model_size_bytes=300, realized_speedup=1.33, size_ratio=0.3),
        row(method="magnitude-pruning", method_family="pruning", params='{"sparsity":0.5}', score=0.97,
            latency_p50_ms=3.5, model_size_bytes=1000, track="open", finetune_budget_steps=50,
            finetune_budget_seconds=900.0, seed=1),
        row(method="dynamic-int8", method_family="quantization", score=0.5, quick=True),
        row(method="broken", status="failed", error="boom [click](http://evil.example)", score=None),
        row(method=HOSTILE, config=HOSTILE, score=0.4, latency_p50_ms=9.0, model_size_bytes=5000),
        row(task="sentiment-minilm", method="baseline", score=0.82, latency_p50_ms=30.0),
        row(task="sentiment-minilm", method="baseline", score=0.81, latency_p50_ms=31.0, backend="torch-other"),
        row(task="sentiment-minilm", method="baseline", score=0.80, latency_p50_ms=10.0, **OTHER_MACHINE),
    ]


def prepared(extra=()):
    return data.prepare(to_frame(rows() + list(extra)))


def configs(frame):
    return frame["config"].tolist()


# --- Pareto ---------------------------------------------------------------------------------------------------

def test_dominance_depth_gives_the_non_dominated_sorting_layers():
    score = np.array([0.9, 0.8, 0.85, 0.7, 0.9, 0.6])
    latency = np.array([10.0, 5.0, 12.0, 6.0, 10.0, 20.0])
    # (0.9,10) and (0.8,5) are not beaten; (0.85,12) by (0.9,10); (0.7,6) by (0.8,5); an exact duplicate of a
    # frontier point is on the frontier; (0.6,20) by layer-2 (0.85,12), so layer 3
    assert pareto.dominance_depth(score, latency).tolist() == [1, 1, 2, 2, 1, 3]
    assert np.isnan(pareto.dominance_depth(np.array([0.5, np.nan]), np.array([1.0, 1.0]))[1])


def brute_force_depth(score, cost):
    return brute_force_interval_depth(score, cost, cost)  # points: intervals of width 0


def test_dominance_depth_matches_the_definition_on_random_points_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(1, 40))
        score, cost = rng.integers(0, 6, n).astype(float), rng.integers(0, 6, n).astype(float)
        assert pareto.dominance_depth(score, cost).tolist() == brute_force_depth(score, cost)


def brute_force_interval_depth(score, low, high):
    depth = {}
    for i in sorted(range(len(score)), key=lambda i: (-score[i], low[i])):
        beaten_by = [j for j in range(len(score)) if score[j] >= score[i] and high[j] <= low[i]
                     and (score[j] > score[i] or high[j] < low[i])]
        assert all(j in depth for j in beaten_by)
        depth[i] = 1 + max((depth[j] for j in beaten_by), default=0)
    return [depth[i] for i in range(len(score))]


def test_interval_dominance_depth_matches_the_definition_on_random_intervals_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        score = rng.integers(0, 5, n).astype(float)
        low = rng.integers(0, 8, n).astype(float)
        high = low + rng.integers(0, 4, n)
        assert pareto.dominance_depth(score, low, high).tolist() == brute_force_interval_depth(score, low, high)


def interleaved(latency, speedup, low, high, score=0.9):
    return {"score": score, "latency_p50_ms": latency, "realized_speedup": speedup, "realized_speedup_ci_low": low,
            "realized_speedup_ci_high": high, "speedup_rounds": 12, "higher_is_better": True,
            "hardware_fingerprint": "a"}


def test_a_faster_configuration_whose_interval_overlaps_is_not_ranked_above_the_other():
    # 2.00x [1.90, 2.10] and 2.05x [1.95, 2.15] at the same score: overlapping intervals, neither beats the other
    frame = pd.DataFrame([interleaved(10.0, 2.0, 1.9, 2.1), interleaved(9.76, 2.05, 1.95, 2.15)])
    assert pareto.pareto_rank(frame).tolist() == [1, 1]
    assert pareto.frontier(frame, "latency_p50_ms").tolist() == [True, True]
    # the same points as bare numbers: the faster one would beat the slower one
    assert pareto.dominance_depth(np.array([0.9, 0.9]), np.array([10.0, 9.76])).tolist() == [2, 1]
    # separated intervals: 2.0x [1.95, 2.05] against 3.0x [2.9, 3.1]
    frame = pd.DataFrame([interleaved(10.0, 2.0, 1.95, 2.05), interleaved(6.67, 3.0, 2.9, 3.1)])
    assert pareto.pareto_rank(frame).tolist() == [2, 1]


def test_pareto_rank_is_per_machine_and_follows_the_metric_direction():
    frame = pd.DataFrame({"score": [0.9, 0.8, 0.8], "latency_p50_ms": [2.0, 1.0, 5.0], "higher_is_better": True,
                          "hardware_fingerprint": ["a", "a", "b"]})
    assert pareto.pareto_rank(frame).tolist() == [1, 1, 1]  # the slow one is alone on its machine
    frame["hardware_fingerprint"] = "a"
    assert pareto.pareto_rank(frame).tolist() == [1, 1, 2]
    frame["higher_is_better"] = False  # now 0.8 is better than 0.9: (0.8, 1 ms) beats both others
    assert pareto.pareto_rank(frame).tolist() == [2, 1, 2]


def test_frontier_in_two_dimensions():
    frame = pd.DataFrame({"score": [0.9, 0.8, 0.85, 0.7, np.nan], "size_mb": [10.0, 5.0, 12.0, 6.0, 1.0],
                          "higher_is_better": True})
    assert pareto.frontier(frame, "size_mb").tolist() == [True, True, False, False, False]


# --- selection and the table ---------------------------------------------------------------------------------

def test_ranked_by_pareto_rank_then_score_with_quick_and_failed_hidden():
    selected = data.select(prepared(), data.Filters("mnist-cnn"))
    assert configs(selected) == ["baseline", "dynamic-int8", "magnitude-pruning:sparsity=0.5", HOSTILE]
    assert selected["pareto_rank"].tolist() == [1, 1, 2, 3]  # the last is beaten by the third too
    assert data.select(prepared(), data.Filters("mnist-cnn", backends=("torch-other",))).empty
    with_quick = data.select(prepared(), data.Filters("mnist-cnn", include_quick=True))
    assert len(with_quick) == 5  # a quick row is its own configuration, never replacing a full one


def test_every_filter_narrows_the_selection():
    frame = prepared()
    by = lambda **kw: configs(data.select(frame, data.Filters("mnist-cnn", **kw)))  # noqa: E731
    assert by(families=("quantization",)) == ["dynamic-int8"]
    assert by(tracks=("open",)) == ["magnitude-pruning:sparsity=0.5"]
    assert by(backends=("torch-other",)) == []
    machine = data.select(frame, data.Filters("sentiment-minilm"))["hardware"]
    assert machine.nunique() == 2
    only = data.select(frame, data.Filters("sentiment-minilm", hardware=(machine.iloc[-1],)))
    assert only["hardware"].unique().tolist() == [machine.iloc[-1]]


def test_family_filter_matches_any_step_of_a_pipeline():
    pipeline = row(method="magnitude-pruning > dynamic-int8", config="magnitude-pruning > dynamic-int8",
                   method_family="pruning > quantization", score=0.9, latency_p50_ms=2.0)
    selected = data.select(prepared([pipeline]), data.Filters("mnist-cnn", families=("quantization",)))
    assert configs(selected) == ["dynamic-int8", "magnitude-pruning > dynamic-int8"]


def test_newest_result_per_configuration_and_machine_wins():
    later = row(method="baseline", score=0.5, latency_p50_ms=4.0, created_at=T0 + timedelta(days=1))
    elsewhere = row(method="baseline", score=0.3, latency_p50_ms=4.0, created_at=T0 + timedelta(days=2),
                    **{**OTHER_MACHINE})
    selected = data.select(prepared([later, elsewhere]), data.Filters("mnist-cnn"))
    assert sorted(selected.loc[selected["config"] == "baseline", "score"]) == [0.3, 0.5]


def test_newest_task_version_by_default_and_any_version_on_request():
    newer = row(task_version="2", method="baseline", score=0.97)
    frame = prepared([newer])
    assert data.versions(frame, "mnist-cnn") == ["2", "1"]
    assert data.select(frame, data.Filters("mnist-cnn"))["task_version"].unique().tolist() == ["2"]
    assert len(data.select(frame, data.Filters("mnist-cnn", task_version="1"))) == 4


def test_table_has_units_directions_and_the_score_interval():
    table = data.table(data.select(prepared(), data.Filters("mnist-cnn")))
    assert {"p50 latency ms ↓", "size MB ↓", "realized speedup × ↑", "theoretical speedup × ↑", "Pareto rank ↓",
            "compression s ↓", "track", "hardware"} <= set(table.columns)
    assert table["score 95% CI"].iloc[0] == "[0.9800, 0.9950]" and table["score 95% CI"].iloc[2] == ""
    assert table["size MB ↓"].iloc[0] == pytest.approx(0.001)
    assert set(data.formats(list(table))) <= set(table.columns)


def test_lower_is_better_metrics_flip_the_score_headers_and_the_order():
    frame = to_frame(rows())
    frame["higher_is_better"] = False
    selected = data.select(data.prepare(frame), data.Filters("mnist-cnn"))
    assert configs(selected)[0] == HOSTILE  # 0.4 is the best score now, and nothing beats it on all three
    assert "score ↓" in data.table(selected).columns and "score ↓" in data.formats(list(data.table(selected)))


def test_table_is_capped_but_the_export_holds_every_row():
    many = [row(method="magnitude-pruning", params=f'{{"sparsity":{i / 1000}}}', score=0.9, latency_p50_ms=3.0)
            for i in range(30)]
    selected = data.select(prepared(many), data.Filters("mnist-cnn"))
    assert len(data.table(selected, limit=10)) == 10
    full = data.table(selected, limit=None)
    assert pd.read_csv(io.BytesIO(data.export_csv(full)))["method"].tolist() == full["method"].tolist()
    back = pd.read_parquet(io.BytesIO(data.export_parquet(full)))
    assert len(back) == 34 and list(back.columns) == list(full.columns)


def test_prepare_gives_each_row_a_distinct_key_and_a_readable_machine():
    frame = prepared()
    assert data.row_keys(frame).is_unique
    assert data.row_keys(frame).tolist() == data.row_keys(prepared()).tolist()
    assert frame["hardware"].iloc[0] == "EPYC · 2 cores · aaaa1111"
    assert frame["hardware"].iloc[-1] == "Xeon · 8 cores · bbbb2222"


def test_chart_points_keep_the_frontier_and_sample_the_rest():
    frame = pd.DataFrame({"x": range(100)})
    keep = pd.Series([i < 5 for i in range(100)])
    points = data.sample_points(frame, keep, 20)
    assert len(points) == 20 and set(range(5)) <= set(points["x"])


def test_tradeoff_chart_draws_the_frontier_and_fades_the_rest():
    selected = data.select(prepared(), data.Filters("mnist-cnn"))
    points = selected.assign(on_frontier=pareto.frontier(selected, "latency_p50_ms"))
    spec = charts.tradeoff(points, "latency_p50_ms", "p50 latency ms", "accuracy").to_dict()
    line, dots = spec["layer"]
    assert line["mark"]["interpolate"] == "step-after"
    assert dots["encoding"]["opacity"]["condition"]["test"] == "datum.on_frontier"
    frontier_rows = [d for d in spec["datasets"][line["data"]["name"]]]
    assert sorted(d["config"] for d in frontier_rows) == ["baseline", "dynamic-int8"]


# --- constraint explorer ---------------------------------------------------------------------------------------

def test_explorer_lists_the_best_configuration_per_backend_and_machine_within_budget():
    selected = data.select(prepared(), data.Filters("mnist-cnn"))
    fast = constraints.best_per_platform(selected, constraints.Budget(latency_ms=3.2, at_batch_one=False))
    assert configs(fast) == ["dynamic-int8"]
    small = constraints.best_per_platform(selected, constraints.Budget(size_mb=0.002, min_score=0.975))
    assert configs(small) == ["baseline"]  # 0.99 beats 0.985; both fit
    loose = constraints.meeting(selected, constraints.Budget())
    assert len(loose) == len(selected)
    assert list(constraints.answer_table(fast).columns)[:3] == ["hardware", "backend", "method"]


def test_explorer_says_when_nothing_fits_and_which_limit_binds():
    selected = data.select(prepared(), data.Filters("mnist-cnn"))
    budget = constraints.Budget(latency_ms=0.5, min_score=0.9)
    assert constraints.best_per_platform(selected, budget).empty
    hints = constraints.closest(selected, budget)
    assert "the fastest configuration has p50 latency 0.8 ms" in hints
    assert "dropping the latency limit alone would leave 3 configurations" in hints
    assert budget.describe() == "p50 latency ≤ 0.5 ms at batch 1, score ≥ 0.9"


def test_explorer_score_limit_is_a_maximum_for_lower_is_better_metrics():
    frame = to_frame(rows())
    frame["higher_is_better"] = False
    selected = data.select(data.prepare(frame), data.Filters("mnist-cnn"))
    assert configs(constraints.meeting(selected, constraints.Budget(min_score=0.5))) == [HOSTILE]


# --- run detail and compare --------------------------------------------------------------------------------------

def parse_run(command):
    return build_parser().parse_args(shlex.split(command.split("  #")[0])[1:])


def test_reproduce_command_round_trips_through_the_cli_parser():
    frame = prepared()
    closed = frame[frame["config"] == "baseline"].iloc[0].to_dict()
    args = parse_run(runs.reproduce_command(closed))
    assert (args.task, args.method, args.backend, args.track) == (["mnist-cnn"], ["baseline"], ["torch-cpu"], "closed")
    open_row = frame[frame["track"] == "open"].iloc[0].to_dict()
    args = parse_run(runs.reproduce_command(open_row))
    assert (args.method, args.track, args.finetune_budget, args.seed) == (
        ["magnitude-pruning:sparsity=0.5"], "open", 50, 1)
    assert args.finetune_budget_seconds is None  # the shared 900 s is not repeated
    quick = frame[frame["quick"]].iloc[0].to_dict()
    assert parse_run(runs.reproduce_command(quick)).quick


def test_reproduce_command_quotes_pipelines_and_backend_parameters_and_names_third_party_plugins():
    piped = row(method="magnitude-pruning > dynamic-int8", config="magnitude-pruning:sparsity=0.5 > dynamic-int8",
                backend_params='{"threads":1}', method_dist="benchsuite-example-fp16", method_dist_version="0.2")
    command = runs.reproduce_command(data.prepare(to_frame([piped])).iloc[0].to_dict())
    args = parse_run(command)
    assert args.method == ["magnitude-pruning:sparsity=0.5 > dynamic-int8"] and args.backend == ["torch-cpu:threads=1"]
    assert command.endswith("# with benchsuite-example-fp16 0.2 installed")


def test_detail_holds_every_stored_value_as_text():
    frame = prepared()
    failed = frame[frame["status"] == "failed"].iloc[0].to_dict()
    failed["row_key"] = "k"
    sections = runs.detail(failed)
    fields = pd.concat(sections.values())
    assert set(runs.DETAIL_SECTIONS) == set(sections)
    assert fields.set_index("field").loc["error", "value"] == "boom [click](http://evil.example)"
    assert len(fields) == fields["field"].nunique()


def test_compare_marks_differences_beyond_the_intervals():
    selected = data.select(prepared(), data.Filters("mnist-cnn"))
    table = runs.compare(selected.head(2)).set_index("metric")
    verdicts = table["run 2 vs run 1"]
    assert verdicts["score"] == "within the intervals (not distinguishable)"  # [0.98,0.995] vs [0.975,0.99]
    assert verdicts["p50 latency ms"].startswith("beyond the 95% intervals (-25.0%")
    assert verdicts["realized speedup ×"] == "no interval to test"
    assert verdicts["size MB"] == "differs (-70.0%)"
    assert table.filter(like="1: baseline").iloc[0, 0] == "0.99 [0.98, 0.995]"


def test_compare_does_not_declare_rows_with_overlapping_interleaved_intervals_different():
    # 1.9x [1.8, 2.0] and 2.0x [1.9, 2.1]: their latencies differ by 5%, but the speedups' intervals overlap, and
    # each latency carries its speedup's relative width, so neither is "faster"
    def timed(method, latency, speedup, low, high):
        values = {**interleaved(latency, speedup, low, high), "latency_p50_ci_low_ms": latency - 0.01,
                  "latency_p50_ci_high_ms": latency + 0.01}
        return row(method=method, **{k: v for k, v in values.items() if k not in MACHINE})

    rows = data.prepare(to_frame([timed("a", 10.0, 1.9, 1.8, 2.0), timed("b", 9.5, 2.0, 1.9, 2.1)]))
    verdicts = runs.compare(rows).set_index("metric")["run 2 vs run 1"]
    assert verdicts["realized speedup ×"] == "within the intervals (not distinguishable)"
    assert verdicts["p50 latency ms"] == "within the intervals (not distinguishable)"  # bootstrap alone: "beyond"
    rows.loc[1, ["realized_speedup", "realized_speedup_ci_low", "realized_speedup_ci_high"]] = [3.0, 2.9, 3.1]
    rows.loc[1, "latency_p50_ms"] = 6.3
    verdicts = runs.compare(rows).set_index("metric")["run 2 vs run 1"]
    assert verdicts["realized speedup ×"].startswith("beyond the 95% intervals (+57.9%")
    assert verdicts["p50 latency ms"].startswith("beyond the 95% intervals")


def plugin_rows():
    return [row(method="baseline", method_plugin="builtin.methods.baseline", score=0.99, latency_p50_ms=4.0),
            row(method="nice", method_plugin="nice_methods", score=0.98, latency_p50_ms=3.0),
            row(method="evil", method_plugin="evil_methods", score=1.0, latency_p50_ms=0.1),
            row(method="evil > dynamic-int8", method_plugin="evil_methods > builtin.methods.dynamic-int8", score=1.0,
                latency_p50_ms=0.2),
            row(method="old", method_plugin=None, score=0.5, latency_p50_ms=9.0)]


@pytest.mark.parametrize("allow, block, shown, caption", [
    (None, None, ["baseline", "nice", "evil", "evil > dynamic-int8", "old"], ""),
    (None, ("evil_*",), ["baseline", "nice", "old"],
     "2 rows hidden: 2 from plugins blocked by BENCHSUITE_PLUGINS_BLOCK"),
    (("nice_*",), None, ["baseline", "nice"],
     "3 rows hidden: 3 from third-party plugins not in BENCHSUITE_PLUGINS_ALLOW"),
    (("nice_*",), ("builtin.methods.baseline",), ["nice"],
     "4 rows hidden: 1 from plugins blocked by BENCHSUITE_PLUGINS_BLOCK, 3 from third-party plugins not in "
     "BENCHSUITE_PLUGINS_ALLOW"),
])
def test_rows_of_blocked_and_not_allowed_plugins_are_hidden_with_a_caption(allow, block, shown, caption):
    from benchsuite.discovery.loader import PluginLists

    kept, note = data.visible(data.prepare(to_frame(plugin_rows())), PluginLists(allow, block))
    assert kept["method"].tolist() == shown
    assert note == (f"{caption} (the leaderboard follows the plugin allow and block lists)" if caption else "")


def test_accuracy_only_rows_are_not_ranked_and_the_caption_says_so():
    from benchsuite.discovery.loader import PluginLists

    rows = plugin_rows()
    rows[1].update(timed=False, latency_p50_ms=None, latency_b1_p50_ms=None)
    kept, note = data.visible(data.prepare(to_frame(rows)), PluginLists(None, None))
    assert "nice" not in kept["method"].tolist() and len(kept) == len(rows) - 1
    assert note == ("1 accuracy-only row (run with --accuracy-only, no latency) not ranked; `benchsuite results` "
                    "lists them")


def test_download_file_names_keep_only_safe_characters():
    assert data.file_name("mnist-cnn", "csv") == "mnist-cnn.csv"
    assert data.file_name("../x/<b>", "parquet") == "_x__b_.parquet"


def test_markdown_special_characters_are_escaped():
    assert plain(HOSTILE) == r"\<img src=x onerror=alert\(1\)\>"
    assert plain("[x](http://e)") == r"\[x\]\(http\://e\)"


# --- the app ------------------------------------------------------------------------------------------------------

def run_app(store, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_STORE", str(store))
    return AppTest.from_file(APP, default_timeout=60).run()


@pytest.fixture
def app(tmp_path, monkeypatch):
    ResultStore(tmp_path).append(rows())
    return run_app(tmp_path, monkeypatch)


def page(at, name):
    at.sidebar.radio(key="page").set_value(name).run()
    assert not at.exception
    return at


def no_raw_markup(at):
    """No markdown-rendering element carries a plugin string unescaped."""
    texts = [e.value for kind in ("markdown", "caption", "subheader", "error", "warning", "info", "success")
             for e in at.get(kind)]
    return not any(HOSTILE in t or "](http" in t for t in texts)


def test_leaderboard_page_ranks_filters_and_exports(app):
    assert not app.exception and [s.value for s in app.subheader] == ["mnist\\-cnn"]
    table = app.dataframe[0].value
    assert table["method"].tolist() == ["baseline", "dynamic-int8", "magnitude-pruning:sparsity=0.5", HOSTILE]
    assert [b.label for b in app.get("download_button")] == ["Download CSV", "Download Parquet"]
    app.sidebar.multiselect(key="families").set_value(["quantization"]).run()
    assert app.dataframe[0].value["method"].tolist() == ["dynamic-int8"]
    app.sidebar.multiselect(key="families").set_value([]).run()
    app.sidebar.multiselect(key="tracks").set_value(["open"]).run()
    assert app.dataframe[0].value["method"].tolist() == ["magnitude-pruning:sparsity=0.5"]
    app.sidebar.multiselect(key="tracks").set_value([]).run()
    app.sidebar.checkbox(key="quick").check().run()
    assert len(app.dataframe[0].value) == 5
    app.sidebar.multiselect(key="backends").set_value(["torch-cpu"]).run()
    assert len(app.dataframe[0].value) == 5
    app.sidebar.selectbox(key="task").set_value("sentiment-minilm").run()
    assert app.sidebar.multiselect(key="backends").value == ["torch-cpu"]
    hardware = app.sidebar.multiselect(key="hardware")
    hardware.set_value([o for o in hardware.options if "Xeon" in o]).run()
    assert app.dataframe[0].value["hardware"].str.startswith("Xeon").all()
    assert no_raw_markup(app)


def test_version_filter_shows_older_versions_on_request(tmp_path, monkeypatch):
    ResultStore(tmp_path).append(rows() + [row(task_version="2", method="baseline", score=0.97)])
    at = run_app(tmp_path, monkeypatch)
    assert at.sidebar.selectbox(key="version").value == "2"
    assert len(at.dataframe[0].value) == 1
    at.sidebar.selectbox(key="version").set_value("1").run()
    assert len(at.dataframe[0].value) == 4


def test_filters_that_match_nothing_say_so(app):
    app.sidebar.multiselect(key="families").set_value(["pruning"]).run()
    app.sidebar.multiselect(key="tracks").set_value(["closed"]).run()
    assert "No successful runs match the filters" in app.warning[0].value


def test_tradeoff_page_draws_two_charts_per_backend_and_machine(app):
    page(app, "Trade-offs")
    assert len(app.get("vega_lite_chart")) == 2
    page(app, "Trade-offs").sidebar.selectbox(key="task").set_value("sentiment-minilm").run()
    assert len(app.get("vega_lite_chart")) == 6  # torch-cpu on two machines, torch-other on one
    assert no_raw_markup(app)


def test_constraint_explorer_answers_and_says_when_nothing_fits(app):
    page(app, "Constraint explorer")
    app.number_input(key="budget_latency").set_value(3.2).run()
    app.radio(key="budget_batch").set_value("task batch size").run()
    assert "1 backend/machine pairs" in app.success[0].value
    assert app.dataframe[0].value["method"].tolist() == ["dynamic-int8"]
    app.number_input(key="budget_size").set_value(0.0001).run()
    assert app.warning[0].value.startswith("No configuration meets p50 latency ≤ 3.2 ms at the task batch size")
    app.number_input(key="budget_size").set_value(0.0).run()
    app.number_input(key="budget_score").set_value(0.99).run()
    assert "No configuration meets" in app.warning[0].value and "the best score is 0.99" in app.warning[0].value


def test_run_detail_shows_every_value_the_error_and_the_command(app):
    page(app, "Run detail")
    picker = app.selectbox(key="detail_run")
    failed = next(k for k in picker.options if "· failed ·" in k)
    picker.set_value(failed).run()
    assert app.error[0].value == plain("failed: boom [click](http://evil.example)")
    assert app.code[0].value.startswith("benchsuite run --task mnist-cnn --method broken --backend torch-cpu")
    assert len(app.dataframe) == len(runs.DETAIL_SECTIONS)
    hostile = next(k for k in picker.options if k.startswith(HOSTILE))
    app.selectbox(key="detail_run").set_value(hostile).run()
    assert shlex.split(app.code[0].value)[5] == HOSTILE  # quoted for the shell, never executed or rendered
    assert no_raw_markup(app)


def test_compare_page_tests_each_difference(app):
    page(app, "Compare")
    assert "Pick two or more runs" in app.info[0].value
    picker = app.multiselect(key="compare_runs")
    chosen = [next(o for o in picker.options if o.startswith(name)) for name in ("baseline", "dynamic-int8")]
    picker.set_value(chosen).run()
    verdicts = app.dataframe[0].value.set_index("metric")["run 2 vs run 1"]
    assert verdicts["p50 latency ms"].startswith("beyond the 95% intervals")


def test_empty_missing_failed_only_and_unreadable_stores_explain_themselves(tmp_path, monkeypatch):
    at = run_app(tmp_path / "missing", monkeypatch)
    assert not at.exception and "No results in" in at.info[0].value
    (tmp_path / "empty").mkdir()
    at = run_app(tmp_path / "empty", monkeypatch)
    assert not at.exception and "No results in" in at.info[0].value
    ResultStore(tmp_path / "failed").append([row(status="failed", error="boom", score=None)])
    at = run_app(tmp_path / "failed", monkeypatch)
    assert not at.exception and "No successful runs to rank for this task (1 failed" in at.warning[0].value
    page(at, "Run detail")
    assert at.error[0].value == plain("failed: boom")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results-bad.parquet").write_bytes(b"not parquet")
    at = run_app(tmp_path / "bad", monkeypatch)
    assert not at.exception and plain("results-bad.parquet") in at.warning[0].value  # skipped, named
    assert plain("store check --fix") in at.warning[0].value and "No results in" in at.info[0].value
    ResultStore(tmp_path / "newer").append([row()])
    newer = next((tmp_path / "newer").glob("results-*.parquet"))
    frame = pd.read_parquet(newer).assign(schema_version=99)
    frame.to_parquet(tmp_path / "newer" / "results-newer.parquet", index=False)
    at = run_app(tmp_path / "newer", monkeypatch)
    assert not at.exception and "Cannot read the results store" in at.error[0].value
    assert plain("schema_version 99") in at.error[0].value and "upgrade benchsuite" in at.error[0].value


def test_every_display_format_names_a_table_column():
    headers = {*data.TABLE_COLUMNS.values(), *data.GENERATION_COLUMNS.values(), *data.GENERATION_HEADERS.values()}
    assert set(data.FORMATS) <= headers


def test_the_app_hides_rows_the_plugin_lists_exclude_and_says_so(tmp_path, monkeypatch):
    ResultStore(tmp_path).append(plugin_rows())
    monkeypatch.setenv("BENCHSUITE_PLUGINS_BLOCK", "evil_*")
    at = run_app(tmp_path, monkeypatch)
    assert not at.exception
    assert sorted(at.dataframe[0].value["method"]) == ["baseline", "nice", "old"]
    assert any(c.value.startswith(plain("2 rows hidden: 2 from plugins blocked by BENCHSUITE_PLUGINS_BLOCK"))
               for c in at.caption)
    page(at, "Run detail")
    assert not any(o.startswith("evil") for o in at.selectbox(key="detail_run").options)
    monkeypatch.setenv("BENCHSUITE_PLUGINS_ALLOW", "nobody")
    monkeypatch.setenv("BENCHSUITE_PLUGINS_BLOCK", "builtin.*")
    at = run_app(tmp_path, monkeypatch)  # everything hidden: the caption says why, and the page stops there
    assert not at.exception and not at.dataframe and not at.info
    assert any("5 rows hidden" in c.value for c in at.caption)


def test_the_cached_store_is_reread_when_a_results_file_is_added(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.append(rows())
    at = run_app(tmp_path, monkeypatch)
    assert len(at.dataframe[0].value) == 4
    store.append([row(method="low-rank", method_family="factorization", score=0.96, latency_p50_ms=2.0)])
    at.run()
    assert "low-rank" in at.dataframe[0].value["method"].tolist()
