"""Progress for management commands: a bar on a terminal, plain lines when piped."""

import sys
import time

from metamorph.identifiers import shown


class TerminalProgress:
    """A `progress(phase, done, total, message)` callable that writes to a stream."""

    def __init__(self, stream=None, min_interval=0.2):
        self.stream = _Unended(stream) if hasattr(stream, "style_func") else stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval = min_interval
        self._last = 0.0
        self._last_phase = None

    def __call__(self, phase, done, total, message=""):
        now = time.monotonic()
        finished = total and done >= total
        if phase == self._last_phase and not finished and now - self._last < self.min_interval:
            return
        self._last, self._last_phase = now, phase
        message = shown(message)  # an odd vault id must not drive the terminal
        if self.tty:
            width = 30
            filled = int(width * done / total) if total else 0
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{phase:<12} [{bar}] {message[:60]:<60}")
            if finished:
                self.stream.write("\n")
        else:
            self.stream.write(f"{phase}: {done}/{total} {message}\n")
        self.stream.flush()


class _Unended:
    """A management command's OutputWrapper that writes text as given: the wrapper would end
    every write with a newline, breaking the bar's carriage return."""

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text):
        self.wrapper.write(text, ending="")

    def flush(self):
        self.wrapper.flush()

    def isatty(self):
        return self.wrapper.isatty()
