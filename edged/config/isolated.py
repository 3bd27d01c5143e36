"""Checking a config in a child process with memory and time limits, so a hostile file (an alias bomb
the loader's bounds miss, a validator that runs away) costs a child, never the running daemon.

The parent reads the file once (size-capped) and sends that text to the child; only when the child
accepts it does the parent parse the same text itself, under the loader's own bounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from edged.config.loader import ConfigError, ConfigProblem, read_config_text, validate_text
from edged.config.schema import EdgedConfig

CHECK_MEMORY_BYTES = 512 * 1024 * 1024  # address space of the child: Python, pydantic and the file
CHECK_TIMEOUT_S = 30.0  # wall clock for the child, start-up (about 1-2 s) included


def _refused(file: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(file, 1, message)])


class IsolatedCheck:
    """One config file checked in a child process from a worker thread; ``result`` once ``done()``."""

    def __init__(
        self, path: Path, *, timeout_s: float = CHECK_TIMEOUT_S, memory_bytes: int = CHECK_MEMORY_BYTES
    ) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.result: EdgedConfig | ConfigError | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="config-check", daemon=True)

    def start(self) -> IsolatedCheck:
        self._thread.start()
        return self

    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> EdgedConfig | ConfigError | None:
        self._thread.join(timeout)
        return self.result

    def cancel(self) -> None:
        """Kill the child (the daemon is stopping); the result is a refusal."""
        with self._lock:
            self._cancelled = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()

    def _run(self) -> None:
        file = str(self.path)
        try:
            text = read_config_text(self.path)
            self._check_in_child(text, file)
            self.result = validate_text(EdgedConfig, text, file)
        except ConfigError as exc:
            self.result = exc
        except Exception as exc:  # the check itself failed: refuse the file, keep the daemon
            self.result = _refused(file, f"the config could not be checked: {exc}")

    def _check_in_child(self, text: str, file: str) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        with self._lock:
            if self._cancelled:
                raise _refused(file, "not checked: the daemon is stopping")
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "edged.config.isolated", file, str(self.memory_bytes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        proc = self._proc
        try:
            out, _ = proc.communicate(text.encode("utf-8"), timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise _refused(file, f"checking it took more than {self.timeout_s:.0f} s; refused") from None
        if self._cancelled:
            raise _refused(file, "not checked: the daemon is stopping")
        try:
            problems = json.loads(out)["problems"]
        except (ValueError, KeyError, TypeError):
            why = "ran out of memory" if proc.returncode != 0 else "gave no answer"
            raise _refused(
                file,
                f"checking it {why} (limit {self.memory_bytes >> 20} MB, exit {proc.returncode}); refused",
            ) from None
        if problems:
            raise ConfigError([ConfigProblem(str(p[0]), int(p[1]), str(p[2])) for p in problems])


def _child(file: str, memory_bytes: int) -> int:
    """In the child: limit memory and CPU, validate the text on stdin, print the problems as JSON."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    cpu = int(CHECK_TIMEOUT_S) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    text = sys.stdin.buffer.read().decode("utf-8")
    try:
        validate_text(EdgedConfig, text, file)
        problems: list[tuple[str, int, str]] = []
    except ConfigError as exc:
        problems = [(p.file, p.line, p.message) for p in exc.problems]
    sys.stdout.write(json.dumps({"problems": problems}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
