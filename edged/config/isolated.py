"""Checking a config in a child process with memory and time limits, so a hostile file (an alias bomb
the loader's bounds miss, a validator that runs away) costs a child, never the running daemon.

The child reads the file (size-capped; a file that hangs, a FIFO or a dead mount, hangs only the child)
and validates it; when it accepts it, it sends the text back and the parent parses that same text under
the loader's own bounds, so what was checked is what is applied.
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
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


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
            text = self._check_in_child(file)
            self.result = validate_text(EdgedConfig, text, file)
        except ConfigError as exc:
            self.result = exc
        except Exception as exc:  # the check itself failed: refuse the file, keep the daemon
            self.result = _refused(file, f"the config could not be checked: {exc}")

    def _check_in_child(self, file: str) -> str:
        """The file's text once the child accepted it; :class:`ConfigError` with its problems else."""
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        # the child runs this same edged, wherever it was imported from
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), env.get("PYTHONPATH")]))
        with self._lock:
            if self._cancelled:
                raise _refused(file, "not checked: the daemon is stopping")
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "edged.config.isolated", file, str(self.memory_bytes)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        proc = self._proc
        try:
            out, _ = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise _refused(file, f"checking it took more than {self.timeout_s:g} s; refused") from None
        if self._cancelled:
            raise _refused(file, "not checked: the daemon is stopping")
        try:
            answer = json.loads(out)
            problems, text = answer["problems"], answer["text"]
        except (ValueError, KeyError, TypeError):
            why = "ran out of memory" if proc.returncode != 0 else "gave no answer"
            raise _refused(
                file,
                f"checking it {why} (limit {self.memory_bytes >> 20} MB, exit {proc.returncode}); refused",
            ) from None
        if problems:
            raise ConfigError([ConfigProblem(str(p[0]), int(p[1]), str(p[2])) for p in problems])
        return str(text)


def _child(file: str, memory_bytes: int) -> int:
    """In the child: limit memory and CPU, read and validate ``file``, print the verdict as JSON."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    cpu = int(CHECK_TIMEOUT_S) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    text = ""
    problems: list[tuple[str, int, str]] = []
    try:
        text = read_config_text(file)
        validate_text(EdgedConfig, text, file)
    except ConfigError as exc:
        problems = [(p.file, p.line, p.message) for p in exc.problems]
    sys.stdout.write(json.dumps({"problems": problems, "text": "" if problems else text}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
