"""Suite presets: the heavy suite is as heavy as it says."""

import numpy as np

from bench.engine.suites import build_config
from bench.engine.workload import Workload


def _mean_comparisons(config) -> float:
    """Elements a linear search inspects per lookup, counted on the suite's own workload."""
    workload = Workload(2000, config.array_size, config.value_range, config.seed)
    answers = workload.reference
    return float(np.where(answers >= 0, answers + 1, config.array_size).mean())


def test_value_range_scales_with_the_array():
    standard, heavy = build_config(suite="standard"), build_config(suite="heavy")
    assert standard.value_range == 1000  # the seed's range for its 100-element array
    assert heavy.value_range == 10 * heavy.array_size
    assert build_config(suite="heavy", value_range=500).value_range == 500


def test_heavy_work_per_lookup_is_about_100x_the_seeds():
    ratio = _mean_comparisons(build_config(suite="heavy")) / _mean_comparisons(build_config(suite="standard"))
    assert 80 < ratio < 120


def test_version_flag(capsys):
    from bench import __version__
    from bench.cli import main

    main(["--version"])
    assert capsys.readouterr().out.strip() == f"ray-bench {__version__}"


def test_the_option_tables_suite_and_mode_names_are_the_suites_own():
    from bench import mode_table, options
    from bench.engine import suites

    assert options.SUITE_NAMES == tuple(suites.SUITES)
    assert set(m for s in suites.SUITES.values() for m in s.modes) <= set(mode_table.names())
