"""What measures: the workload, the cluster and its samplers, the strategies (modes), the
calibration, interleaved rounds, the run record and the runner that writes a results file."""
