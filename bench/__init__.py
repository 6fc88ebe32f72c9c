"""Ray task-granularity benchmark appliance.

Layout (one job per module):
  workload   seeded lookups and the sequential reference
  modes      the strategies that answer the lookups (sequential ... ray-auto)
  runner     warm-up, then trials in interleaved rounds; timing and verification
  progress   phase lines and the suite bar (predicted seconds, ETA)
  cluster    connecting to Ray, waiting for nodes, calibration
  samplers   per-node CPU / memory sampling (cgroup first, psutil fallback)
  stats      summary statistics over raw samples
  results    the immutable, versioned results model and its JSON file
  metadata   best-effort environment collectors
  model      the overhead model (relative fit), ray-auto's ratio, drift
  suites     quick / standard / full / heavy / stress presets
  summary    terminal renderers: the run table and the verdict
  format     number formatting shared by every renderer
  report     the HTML report; charts: its SVG figures
  compare    run-by-run comparison of two files; repro: re-run and judge
  export     summary table exporters (CSV)
  cli        the thin Fire command line
"""

__version__ = "0.1.0"
