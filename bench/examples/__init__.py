"""Example user workloads for `python -m bench run --workload MODULE:FUNCTION`."""
