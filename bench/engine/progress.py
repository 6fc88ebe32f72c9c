"""Progress a person can trust: one line per phase, and a suite bar measured in predicted
seconds, so a 200 s naive trial and a 10 ms numpy trial move it by what they cost.

Inside a trial the bar advances as tracked tasks complete (the latency tracker's
callbacks: no extra Ray calls). Predictions come from the calibration rate (naive
Ray) or the warm-up, then from the row's own median once it has one, so the ETA is
not an average over trials of wildly different lengths. On a terminal the bar
redraws in place; elsewhere (CI, `docker compose logs`) it prints a plain line every
few seconds; with quiet it prints nothing.
"""

from __future__ import annotations

import sys
import threading
import time

from tqdm import tqdm

LINE_INTERVAL_S = 5.0
TRUST_AFTER = 0.2  # scale the ETA by how predictions came true only after this share is done


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class SuiteProgress:
    def __init__(self, quiet: bool = False, stream=None, line_interval_s: float = LINE_INTERVAL_S):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.line_interval_s = line_interval_s
        self.total_s = 0.0
        self.done_s = 0.0
        self._trial_s = 0.0  # predicted length of the trial in flight
        self._trial_done_s = 0.0
        self._tasks = 1
        self._label = ""
        self._started = time.monotonic()
        self._last_line = 0.0
        self._lock = threading.Lock()
        self._bar = None
        self._rounds_started: float | None = None  # set by start_rounds, cleared by close
        self._rounds_predicted_s = 0.0
        self._rounds_overhead_s = 0.0  # the quiet waits and calibration batches between the trials
        self._extra_cap_s = self._budget_s = self._extra_budget_s = None  # the budgets that bound the extra rounds
        self._extra_share = None
        self._planned_ended: float | None = None  # when the first extra round began
        self._extra_rounds = 0
        self._clock_at_first_trial = False
        if not quiet and self.tty:
            self._bar = tqdm(total=1, unit="s", file=self.stream, dynamic_ncols=True,
                             bar_format="bench {percentage:3.0f}%|{bar}| {desc}")

    # -- phases -----------------------------------------------------------------

    def phase(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.write(f"bench: {text}", file=self.stream)
        else:
            print(f"bench: {text}", file=self.stream, flush=True)

    # -- the suite bar ------------------------------------------------------------

    def start_rounds(self, trials: int, predicted_s: float, overhead_s: float = 0.0, budget_s: float | None = None,
                     extra_budget_s: float | None = None) -> None:
        """The measured rounds begin: say how many trials and how long they are predicted to
        take, with the quiet waits and calibration batches between them (overhead_s), and the
        time budget that bounds them with their extra rounds, so that close() can set the actual
        time beside it, and the extra rounds' (bounded by extra_budget_s too) apart. The bar counts
        the trials' seconds alone (predicted_s)."""
        whole = max(0.0, predicted_s) + max(0.0, overhead_s)
        self._rounds_started, self._rounds_predicted_s, self._rounds_overhead_s = (
            time.monotonic(), max(0.0, predicted_s), whole - max(0.0, predicted_s))
        self._extra_cap_s, self._budget_s, self._extra_budget_s = extra_budget_s, budget_s, None
        self._planned_ended, self._extra_rounds = None, 0
        self._clock_at_first_trial = True  # the quiet host the runner waits for first is not the rounds'
        bound = "" if budget_s is None else (
            f"; extra rounds for noisy rows within the time budget, {_clock(budget_s)} in all"
            if budget_s >= whole else f"; over the time budget ({_clock(budget_s)}): no extra rounds")
        source = "from the calibration and the warm-ups"
        what = (f"the trials {_clock(predicted_s)}, the quiet waits and calibration batches between them "
                f"{_clock(whole - predicted_s)}, {source}") if whole - predicted_s >= 0.5 else f"the trials alone, {source}"
        self.phase(f"measuring: {trials} trials in interleaved rounds, predicted to take {_clock(whole)} ({what}{bound})")
        self.plan(predicted_s)

    def plan(self, seconds: float) -> None:
        """Add predicted seconds of trials still to run (extra rounds add theirs later)."""
        with self._lock:
            self.total_s += max(0.0, seconds)
        self._show(force=True)

    def extra_round(self, seconds: float) -> None:
        """An extra round for noisy rows begins, with its trials' predicted seconds: close() sets
        the extra rounds' time apart from the planned rounds', which the prediction was for."""
        if self._planned_ended is None:
            self._planned_ended = time.monotonic()
        self._extra_rounds += 1
        self.plan(seconds)

    def extra_budget(self, seconds: float, share: float) -> None:
        """The extra rounds' budget: a share of the planned rounds' time, within the suite's own
        (bench.engine.rounds.extra_budget_s)."""
        self._extra_budget_s, self._extra_share = seconds, share

    def _budgets(self) -> str:
        parts = []
        if self._extra_budget_s is not None:
            cap = self._extra_cap_s
            parts.append(f"{_clock(self._extra_budget_s)} for extra rounds"
                         + (f", {self._extra_share:.0%} of the planned rounds' time and at most {_clock(cap)}" if cap is not None else ""))
        elif self._extra_cap_s is not None:
            parts.append(f"{_clock(self._extra_cap_s)} for extra rounds")
        parts += [f"{_clock(self._budget_s)} in all"] if self._budget_s is not None else []
        return f" (budget: {'; '.join(parts)})" if parts else ""

    def start_trial(self, label: str, predicted_s: float, tasks: int) -> None:
        if self._clock_at_first_trial:  # the rounds, as predicted, begin with their first trial
            self._rounds_started, self._clock_at_first_trial = time.monotonic(), False
        with self._lock:
            self._label, self._trial_s, self._trial_done_s, self._tasks = label, max(0.0, predicted_s), 0.0, max(1, tasks)
        self._show()

    def tasks_done(self, count: int) -> None:
        """Called from Ray's callback thread as tracked tasks finish."""
        with self._lock:
            step = self._trial_s * count / self._tasks
            step = min(step, self._trial_s - self._trial_done_s)  # never past the trial's share
            self._trial_done_s += step
        self._show()

    def end_trial(self) -> None:
        with self._lock:
            self.done_s += self._trial_s
            self._trial_s = self._trial_done_s = 0.0
        self._show()

    def eta_s(self) -> float | None:
        """Remaining predicted seconds, scaled by how fast predictions have come true so far."""
        with self._lock:
            done = self.done_s + self._trial_done_s
            remaining = max(0.0, self.total_s - done)
        elapsed = time.monotonic() - self._started
        if done <= 0 or done < TRUST_AFTER * self.total_s or elapsed <= 0:
            return remaining  # the prediction alone: early ratios are mostly start-up noise
        return remaining * (elapsed / done)

    def fraction(self) -> float:
        with self._lock:
            return min(1.0, (self.done_s + self._trial_done_s) / self.total_s) if self.total_s else 0.0

    def _show(self, force: bool = False) -> None:
        if self.quiet:
            return
        eta = self.eta_s()
        text = f"{self._label} · ETA {_clock(eta)}" if eta is not None else self._label
        if self._bar is not None:
            with self._lock:
                self._bar.total = max(self.total_s, 1e-9)
                self._bar.n = min(self.done_s + self._trial_done_s, self._bar.total)
            self._bar.set_description_str(text, refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        if force or now - self._last_line >= self.line_interval_s:
            self._last_line = now
            print(f"bench: {self.fraction():4.0%} of the suite · {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        started, self._rounds_started = self._rounds_started, None
        if started is not None:
            now = time.monotonic()
            predicted = _clock(self._rounds_predicted_s + self._rounds_overhead_s)
            if self._planned_ended is None:
                self.phase(f"the measured rounds took {_clock(now - started)} (predicted: {predicted})")
                return
            # The prediction is for the planned rounds; the extra rounds spend what the budgets leave.
            rounds = f"{self._extra_rounds} extra round{'s' if self._extra_rounds != 1 else ''}"
            self.phase(f"the measured rounds took {_clock(now - started)}: the planned rounds "
                       f"{_clock(self._planned_ended - started)} (predicted: {predicted}), then {rounds} "
                       f"for noisy rows {_clock(now - self._planned_ended)}{self._budgets()}")
