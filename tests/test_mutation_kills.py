"""Tests written to kill mutants that `make mutation` (mutmut) found surviving (issue 12).

Each test asserts behaviour that the code promises (docstrings, README, the report's
meaning), not a measured figure. Equivalent survivors are listed in tests/MUTANTS.md.
"""
