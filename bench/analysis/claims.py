"""Whether a re-run's claims (bench.analysis.facts) hold against the original's.

The rule, for every claim with a figure: q = new / expected, where expected is the original's
value, times the machine factors when the file came from another machine (bench.analysis.machines).
- holds: |q - 1| is within the claim's tolerance (stated in bench.analysis.facts, before any data);
- differs: outside it, and q's 95% interval excludes 1 (the two files' intervals combined
  in quadrature on the log scale);
- can't tell: outside it, but the interval includes 1, or a side has no interval.
The best-B region holds when the two regions share a batch size, and differs when they don't.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from bench.analysis.facts import Fact, Facts

Z95 = 1.959964
HOLDS, DIFFERS, CANT_TELL = "holds", "differs", "can't tell"


@dataclass(frozen=True)
class ClaimVerdict:
    key: str
    unit: str
    status: str  # holds | differs | can't tell
    tolerance: float
    original: float | None
    new: float | None
    factor: float = 1.0  # expected new / original from the machine factors (1 on the same machine)
    ratio: float | None = None  # new / expected
    ci: tuple[float, float] | None = None  # of the ratio
    original_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None
    original_members: tuple[float, ...] = ()
    new_members: tuple[float, ...] = ()
    reason: str = ""  # why it can't tell: "missing", "no-interval", "noise"

    @property
    def expected(self) -> float | None:
        return self.original * self.factor if self.original is not None else None


def _log_half_width(ci: tuple[float, float] | None) -> float | None:
    if not ci or ci[0] <= 0 or ci[1] <= 0:
        return None
    return (math.log(ci[1]) - math.log(ci[0])) / 2


def judge(a: Fact | None, b: Fact | None, factor: float = 1.0) -> ClaimVerdict:
    """One claim: a is the original's fact, b the re-run's; factor the machine's expected move."""
    fact = a or b
    common = dict(key=fact.key, unit=fact.unit, tolerance=fact.tolerance,
                  original=a.value if a else None, new=b.value if b else None, factor=factor,
                  original_ci=a.ci if a else None, new_ci=b.ci if b else None,
                  original_members=a.members if a else (), new_members=b.members if b else ())
    if a is None or b is None or a.value is None or b.value is None:
        return ClaimVerdict(status=CANT_TELL, reason="missing", **common)
    if fact.unit == "B":
        shared = set(a.members) & set(b.members)
        return ClaimVerdict(status=HOLDS if shared else DIFFERS, **common)
    if a.value <= 0 or b.value <= 0:
        return ClaimVerdict(status=CANT_TELL, reason="missing", **common)
    q = b.value / (a.value * factor)
    half_a, half_b = _log_half_width(a.ci), _log_half_width(b.ci)
    ci = None
    if half_a is not None and half_b is not None:
        half = math.hypot(half_a, half_b)  # each is already a 95% half-width
        ci = (q * math.exp(-half), q * math.exp(half))
    if abs(q - 1.0) <= fact.tolerance + 1e-12:
        return ClaimVerdict(status=HOLDS, ratio=q, ci=ci, **common)
    if ci is None:
        return ClaimVerdict(status=CANT_TELL, ratio=q, reason="no-interval", **common)
    if ci[0] > 1.0 or ci[1] < 1.0:
        return ClaimVerdict(status=DIFFERS, ratio=q, ci=ci, **common)
    return ClaimVerdict(status=CANT_TELL, ratio=q, ci=ci, reason="noise", **common)


def judge_all(fa: Facts, fb: Facts, factor_of: Callable[[Fact], float] = lambda fact: 1.0) -> list[ClaimVerdict]:
    """Every claim either file makes, in the facts' order."""
    keys = [f.key for f in fa.facts] + [f.key for f in fb.facts if fa.get(f.key) is None]
    out = []
    for key in keys:
        a, b = fa.get(key), fb.get(key)
        out.append(judge(a, b, factor_of(a) if a is not None else 1.0))
    return out


def overall(verdicts: list[ClaimVerdict]) -> str:
    """differs if any claim differs, holds if every claim holds, else can't tell."""
    if not verdicts:
        return CANT_TELL
    if any(v.status == DIFFERS for v in verdicts):
        return DIFFERS
    return HOLDS if all(v.status == HOLDS for v in verdicts) else CANT_TELL
