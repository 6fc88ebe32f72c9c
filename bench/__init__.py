"""Ray task-granularity benchmark appliance.

The module layout is described once, in README.md ("Layout and development").
"""

__version__ = "0.1.0"
