"""Ray task-granularity benchmark appliance.

Layout (one job per module):
  workload   seeded lookups and the sequential reference
  modes      the strategies that answer the lookups (sequential ... ray-auto)
  runner     warm-up, trials, timing and verification of each run
  cluster    connecting to Ray, waiting for nodes, calibration
  samplers   per-node CPU / memory sampling (cgroup first, psutil fallback)
  stats      summary statistics over raw samples
  results    the immutable, versioned results model and its JSON file
  metadata   best-effort environment collectors
  suites     quick / standard / full / stress presets
  export     summary table exporters (CSV)
  cli        the thin Fire command line
"""

__version__ = "0.1.0"
