"""The one option table (bench.options): every place that lists `bench run`'s options is derived from it."""

import inspect

import pytest

from bench import options
from bench.analysis import repro
from bench.cli import BenchCLI, check_arguments
from bench.engine.suites import build_config
from bench.errors import UsageError


def test_cli_and_build_config_take_the_tables_options_and_defaults():
    cli = inspect.signature(BenchCLI.run).parameters
    assert [p for p in cli if p != "self"] == [opt.name for opt in options.OPTIONS]
    assert {p: cli[p].default for p in cli if p != "self"} == {opt.name: opt.default for opt in options.OPTIONS}
    built = inspect.signature(build_config).parameters
    assert list(built) == [opt.name for opt in options.OPTIONS if opt.in_config]
    for opt in options.OPTIONS:
        assert f"  {opt.name}: {opt.help}" in BenchCLI.run.__doc__
        assert check_arguments(["run", f"{opt.flag}=1"])  # every flag is allowed


def test_unknown_keyword_is_a_type_error_as_for_a_def():
    with pytest.raises(TypeError, match="colour"):
        build_config(colour="red")


def test_describe_records_every_experiment_option_and_nothing_else():
    config = build_config(suite="quick", budget=5, target_cv=0.1, trials=2)
    recorded = config.describe()
    assert list(recorded) == [opt.key for opt in options.OPTIONS if opt.experiment]
    assert recorded["extra_budget_s"] == 5.0 and recorded["target_cv"] == 0.1 and recorded["trials"] == 2
    assert recorded["suite"] == "quick" and isinstance(recorded["modes"], list)
    assert "expect_timeout" not in recorded and "quiet" not in recorded


def test_repro_option_names_come_from_the_table():
    assert repro.OPTION_NAMES["extra_budget_s"] == "budget"
    assert all(repro.OPTION_NAMES[opt.key] == opt.name for opt in options.EXPERIMENT_OPTIONS)


def test_argv_from_config_round_trips_through_build_config():
    config = build_config(suite="quick", modes="sequential,numpy", queries=3000, trials=4, budget=0,
                          batch_sizes="10,100", naive_tasks=(1000,), target_cv=0.2, seed=0)
    argv = options.argv_from_config(config.describe())
    assert argv[:6] == ["python", "-m", "bench", "run", "--suite", "quick"]
    assert "--seed" in argv and argv[argv.index("--seed") + 1] == "0"  # 0 is a value, not absent
    assert "--budget" in argv and "--expect-timeout" not in argv and "--address" not in argv
    flags = dict(zip(argv[4::2], argv[5::2]))
    again = build_config(**{options.BY_NAME[f[2:].replace("-", "_")].name: v for f, v in flags.items()})
    assert again.describe() == config.describe()


def test_argv_from_config_ignores_what_is_not_an_option():
    assert options.argv_from_config({"order": [["a"]], "gc": "x", "reconstructed_from": "runs"}) == \
        ["python", "-m", "bench", "run", "--suite", "standard"]


@pytest.mark.parametrize("given, message", [
    ({"queries": 0}, "--queries must be an integer >= 1, got 0"),
    ({"array_size": "x"}, "--array-size must be an integer >= 1"),
    ({"seed": -1}, "--seed must be an integer >= 0, got -1"),
    ({"expect_timeout": 0}, "--expect-timeout must be a positive number of seconds, got 0"),
    ({"target_cv": 2}, "--target-cv must be a fraction between 0 and 1"),
    ({"budget": -1}, "--budget must be a number of seconds >= 0"),
    ({"batch_sizes": "10,5000", "queries": 2000}, "--batch-sizes 5000 is larger than --queries 2000"),
    ({"naive_tasks": "3000", "queries": 2000}, "--naive-tasks 3000 is larger than --queries 2000"),
    ({"suite": "huge"}, "unknown suite 'huge'"),
    ({"modes": "warp"}, "unknown mode warp"),
    ({"num_cpus": 2, "address": "auto"}, "--num-cpus applies only to the embedded Ray"),
])
def test_each_options_check_still_says_which_flag(given, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(**given)
