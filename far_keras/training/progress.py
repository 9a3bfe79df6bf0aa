"""What a training run prints: its progress in training steps, and a table at the end.

Keras's own progress bar counts compiled calls: a 100k-step run at 100 steps per
call showed ``1000/1000 ... 47ms/step`` while it made ~2,000 steps/s.
:class:`ProgressPrinter` (driven by ``callbacks.StepProgress``) counts the model's
training steps instead, from the step the run started or resumed at::

  36,500/100,000 steps  36%  1,912 steps/s  ETA 0:33  d_loss 0.758  g_loss 1.39  modes 3/8 at 35k

On a terminal that is one line, redrawn in place (and shortened to the terminal's
width: the percentage, then the evaluation's step and fields go first); anywhere
else (a log file, a pipe: ``reproduce.py`` and ``compare.py`` write each run's output
to its ``train.log``) a line at every tenth of the run and, when a tenth takes longer,
one every ``log_seconds`` in between, so that logs stay short. Steps/s are counted
from the end of the first compiled call (the first call compiles). The last line (at
the end of training) gives the session's time instead of the ETA ("in 0:43", the first
call included), and no evaluation (the final one comes next, in the table).

:func:`final_table` is what ``train.py`` prints at the end: the handful of final
metrics a user reads, aligned and rounded; ``metrics.json`` keeps all of them.

Importing this module does not import TensorFlow (``compare.py`` formats with it).
"""

import math
import shutil
import sys
import time

# --- numbers ------------------------------------------------------------------------


def format_number(value, digits=3):
    """``value`` rounded to ``digits`` significant digits, written without an
    exponent (0.0384, 1.08, 0.761, 123); from 10**digits on, a whole number with
    thousands separators (30,124); below 1e-4 in scientific notation (3.2e-05)."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits:
        return f"{value:,.0f}"
    if magnitude < -4:
        return f"{value:.{digits - 1}e}"
    text = f"{value:.{max(0, digits - 1 - magnitude)}f}"
    if abs(float(text)) >= 10 ** digits:  # rounded up to a whole number (999.6 -> 1,000)
        return f"{value:,.0f}"
    # Rounding can add a digit (0.9996 -> 1.000): keep `digits` significant ones.
    if len(text.replace("-", "").replace(".", "").lstrip("0")) > digits and "." in text:
        text = text[:-1]
    return text


def format_duration(seconds):
    """``m:ss`` below an hour, ``h:mm:ss`` from there on."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(per_second):
    """Steps per second: whole with separators from 100 on, else 3 significant digits."""
    return f"{per_second:,.0f}" if per_second >= 100 else format_number(per_second, 3)


# --- the progress line ----------------------------------------------------------------


class ProgressPrinter:
    """Shows a run's progress in training steps (see the module docstring).

    Args:
      total_steps: the step the run ends at (``--train_steps``).
      stream: where to write (default: ``sys.stdout`` at the time of writing).
      interactive: redraw one line in place; default: ``stream.isatty()``.
      log_fraction: not interactive: a line every this fraction of ``total_steps``
        (at the same steps whether or not the run was resumed).
      log_seconds: not interactive: also a line when this long has passed since the
        last one.
      refresh_seconds: interactive: the shortest time between redraws.
      clock: ``time.monotonic`` (tests pass their own).
      enabled: False prints nothing (``--verbose=0``).
    """

    def __init__(self, total_steps, stream=None, interactive=None, log_fraction=0.1,
                 log_seconds=300.0, refresh_seconds=0.25, clock=time.monotonic,
                 enabled=True):
        self.total = int(total_steps)
        self._stream = stream
        self._interactive = interactive
        self.log_fraction = log_fraction
        self.log_seconds = log_seconds
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.enabled = enabled
        self.start = self.step = 0
        self.values, self.extra = {}, []
        self._open = 0  # length of the interactive line on screen (0: none)
        self._t0 = self._last_write = None
        self._first = None  # (step, time) after the first call: rates exclude compilation

    # ------------------------------------------------------------------ state
    @property
    def stream(self):
        return self._stream or sys.stdout

    @property
    def interactive(self):
        if self._interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            self._interactive = bool(isatty and isatty())
        return self._interactive

    def begin(self, step):
        """Training starts (or resumes) at ``step``."""
        self.start = self.step = int(step)
        self._t0 = self._last_write = self.clock()
        self._first = None
        self._next_mark = self._mark_after(self.step)
        if self.enabled and self.interactive:
            self._draw(self.line(width=self._width()))

    def update(self, step, values=None, extra=None):
        """After a compiled call: the model is at ``step``; ``values`` (name -> float)
        are the metrics to show, ``extra`` more fields (strings, e.g. "modes 3/8")."""
        now = self.clock()
        self._set(step, values, extra)
        if self._first is None:
            self._first = (self.step, now)
        if not self.enabled or self.step >= self.total:
            return  # the last line is end()'s
        if self.interactive:
            if not self._open or now - self._last_write >= self.refresh_seconds:
                # (at once when cleared: StepProgress.eraser)
                self._draw(self.line(now, width=self._width()))
        elif self.step >= self._next_mark or now - self._last_write >= self.log_seconds:
            self._print(self.line(now))
            self._next_mark = self._mark_after(self.step)

    def end(self, step, values=None, extra=None):
        """Training ended normally at ``step``: the last line, with the session's
        speed and duration."""
        self._set(step, values, extra)
        if not self.enabled:
            return
        if self.interactive:
            self._draw(self.line(final=True, width=self._width()))
            self.close()
        else:
            self._print(self.line(final=True))

    def clear(self):
        """Interactive: erases the line, so that what is printed next starts on a
        clean line (the next update draws it again)."""
        if self._open:
            self._write("\r" + " " * self._open + "\r")
            self._open = 0

    def close(self):
        """Interactive: ends the line (after a normal end, or an error)."""
        if self._open:
            self._write("\n")
            self._open = 0

    # ------------------------------------------------------------------ text
    def line(self, now=None, final=False, width=None):
        """The progress line at ``now`` (``final``: the session's rate and time).

        With ``width``, a longer line loses, in this order, the percentage, the
        evaluation's step ("modes 3/8 at 75k" -> "modes 3/8"), the evaluation's
        fields, then its end."""
        now = self.clock() if now is None else now
        fraction = min(max(self.step / self.total, 0.0), 1.0) if self.total else 1.0
        total = f"{self.total:,}"
        counter = f"{self.step:,}/{total} steps"
        if not self.interactive:  # lines of a log: their counters aligned
            counter = counter.rjust(2 * len(total) + 7)
        percent = f"{int(fraction * 100)}%"
        # Steps/s from the end of the first call: its compilation is not training speed
        # (a run of one call: the session's). The last line's time is the session's.
        speed, rate = [], None
        if self._first is not None and self.step > self._first[0] and now > self._first[1]:
            rate = (self.step - self._first[0]) / (now - self._first[1])
        elif final and self.step > self.start and now > self._t0:
            rate = (self.step - self.start) / (now - self._t0)
        if rate:
            speed.append(f"{format_rate(rate)} steps/s")
        if final:
            speed.append(f"in {format_duration(now - self._t0)}")
        elif rate:
            speed.append(f"ETA {format_duration((self.total - self.step) / rate)}")
        values = [f"{k} {format_number(v)}" for k, v in self.values.items()]
        extra = [] if final else list(self.extra)  # the final table follows
        candidates = [
            [counter, percent, *speed, *values, *extra],
            [counter, *speed, *values, *extra],
            [counter, *speed, *values, *(e.split(" at ")[0] for e in extra)],
            [counter, *speed, *values],
        ]
        for parts in candidates:
            text = "  ".join(parts)
            if width is None or len(text) <= width:
                return text
        return text[:width]

    def _set(self, step, values, extra):
        self.step = int(step)
        if values:
            self.values = {k: float(v) for k, v in values.items()}
        if extra is not None:
            self.extra = list(extra)

    @staticmethod
    def _width():
        return shutil.get_terminal_size((100, 24)).columns - 1

    def _mark_after(self, step):
        """The first step after ``step`` at a multiple of ``log_fraction`` of the run."""
        chunk = max(self.total * self.log_fraction, 1.0)
        return math.floor(step / chunk + 1) * chunk

    def _draw(self, text):
        pad = max(self._open - len(text), 0)
        self._write("\r" + text + " " * pad)
        self._open = len(text) + pad

    def _print(self, text):
        self._write(text + "\n")

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()
        self._last_write = self.clock()


# --- what the progress line and the final table show -------------------------------

# The training losses the progress line shows, when the model logs them.
LINE_METRICS = ("d_loss", "g_loss", "neg_elbo")


def format_step(step):
    """A step in few characters: 500, 2.5k, 75k, 335k, 1.25M."""
    step = int(step)
    if step < 1000:
        return str(step)
    if step < 1_000_000:
        return f"{step / 1000:.4g}k"
    return f"{step / 1_000_000:.4g}M"


def evaluation_fields(evaluation, num_modes=None):
    """The progress line's fields from the last evaluation (a metrics.json history
    entry, or None), with its step: "modes 3/8 at 75k", "FID 23.45 at 50k"."""
    if not evaluation:
        return []
    at = f" at {format_step(evaluation['step'])}" if "step" in evaluation else ""
    modes = _get(evaluation, "modes_covered")
    if modes is not None:
        return [f"modes {int(modes)}/{num_modes}{at}" if num_modes else f"modes {int(modes)}{at}"]
    if _get(evaluation, "fid") is not None:
        return [f"FID {evaluation['fid']:.2f}{at}"]
    return []


def _get(metrics, key):
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _plus_minus(mean, spread, fmt):
    return fmt(mean) if spread is None else f"{fmt(mean)} ± {fmt(spread)}"


def key_metrics(metrics, num_modes=None):
    """[(label, text)]: the final metrics a user reads, rounded (see docs/running.md).

    2-D mixtures: modes covered, % high quality, KL to uniform; other 2-D data: their
    distances; then the discriminator's health (spread of D, ‖∇D0‖ at real and fake
    points). Images: FID and IS (2 decimals), KID, precision/recall/density/coverage
    (3 decimals). SDKL-family models: −ELBO, its reconstruction NLL and KL. Last the
    training losses (means over the last ``--log_every`` steps). Rows whose metric
    the run does not have are left out."""
    m, rows = metrics, []

    def add(label, key, fmt=format_number):
        value = _get(m, key)
        if value is not None:
            rows.append((label, fmt(value)))

    if "error" in m and isinstance(m["error"], str):
        rows.append(("evaluation failed", m["error"]))
    modes = _get(m, "modes_covered")
    if modes is not None:
        rows.append(("modes covered", f"{int(modes)} of {num_modes}" if num_modes
                     else str(int(modes))))
    add("high quality", "high_quality", lambda v: f"{100 * v:.1f} %")
    add("KL to uniform", "kl_to_uniform")
    add("Fréchet to true", "frechet_to_true")
    add("memorization", "memorization")
    add("energy distance", "energy_distance")
    add("D spread", "health_d_spread")
    add("‖∇D0‖ real", "health_grad_real")
    add("‖∇D0‖ fake", "health_grad_fake")
    add("FID", "fid", lambda v: f"{v:.2f}")
    if _get(m, "inception_score") is not None:
        rows.append(("Inception Score", _plus_minus(
            m["inception_score"], _get(m, "inception_score_std"), lambda v: f"{v:.2f}")))
    elif m.get("is_unavailable"):
        rows.append(("Inception Score", "unavailable"))
    if _get(m, "kid_mean") is not None:
        kid_std = _get(m, "kid_std")
        rows.append(("KID", format_number(m["kid_mean"]) if kid_std is None else
                     f"{format_number(m['kid_mean'])} ± {format_number(kid_std, 2)}"))
    for name in ("precision", "recall", "density", "coverage"):
        add(name, name, lambda v: f"{v:.3f}")
    add("−ELBO", "train_neg_elbo")
    add("reconstruction NLL", "train_recon_nll")
    add("KL(q‖p)", "train_kl")
    add("d_loss", "train_d_loss")
    add("g_loss", "train_g_loss")
    return rows


# Stand-ins for terminals and logs that cannot encode the labels' symbols.
_ASCII = {"‖": "||", "∇": "grad ", "−": "-", "±": "+-", "é": "e"}


def _encodable(text, encoding):
    try:
        text.encode(encoding or "ascii")
        return text
    except (UnicodeEncodeError, LookupError):
        for symbol, plain in _ASCII.items():
            text = text.replace(symbol, plain)
        return text


def _aligned(values):
    """The values padded so that their decimal points (or their ends, for whole
    numbers and words) line up."""
    def split(text):
        head = text.split(" ")[0]
        dot = head.find(".")
        if dot < 0:
            digits = len(head) if head.replace(",", "").replace("-", "").isdigit() else 0
            return text[:digits], text[digits:]
        return text[:dot], text[dot:]
    parts = [split(v) for v in values]
    width = max((len(a) for a, _ in parts), default=0)
    return [a.rjust(width) + b for a, b in parts]


def final_table(metrics, step, num_modes=None, encoding=None):
    """The lines ``train.py`` ends with: ``Done at step N. Final metrics:`` and the
    :func:`key_metrics` as an aligned two-column table; the FID/IS network under it."""
    rows = key_metrics(metrics, num_modes)
    lines = [f"Done at step {int(step)}. Final metrics:"]
    if rows:
        width = max(len(label) for label, _ in rows)
        for (label, _), value in zip(rows, _aligned([v for _, v in rows])):
            lines.append(f"  {label:<{width}}  {value}".rstrip())
    else:
        lines.append("  (none)")
    if metrics.get("weights_id"):
        lines.append(f"  (image metrics from {metrics['weights_id']})")
    encoding = encoding or getattr(sys.stdout, "encoding", None)
    return _encodable("\n".join(lines), encoding)


def summary_line(metrics, num_modes=None, encoding=None):
    """:func:`key_metrics` on one line ("modes covered 3 of 8, high quality 36.0 %, ...")."""
    text = ", ".join(f"{label} {value}" for label, value in key_metrics(metrics, num_modes))
    return _encodable(text, encoding or getattr(sys.stdout, "encoding", None))


def num_modes(cfg):
    """The number of modes of a run's 2-D mixture (ring8: 8, grid25: 25); None for
    images and for 2-D data without modes."""
    if cfg.data.is_image:
        return None
    from far_keras.data import synthetic  # imports TensorFlow
    centers = synthetic.source_from_config(cfg.data, seed=cfg.run.seed).centers
    return None if centers is None else len(centers)
