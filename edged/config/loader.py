"""YAML loading with line numbers, and pydantic validation reported as ``FILE:LINE: message``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """Every problem found in one config file; ``str()`` gives one ``FILE:LINE: message`` per line."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# Bounds on what a config file may make the loader do. A real config is a few KB with a few hundred
# values; these leave room for long lists and refuse the files that exist only to exhaust the machine.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_DEPTH = 64  # nested mappings and lists
MAX_NODES = 100_000  # values once every alias is expanded (a billion-laughs file expands to 10^9)
MAX_NUMBER_CHARS = 64  # an int needs 20 digits; 5,000 digits make Python's conversion raise
_INT_TAG = "tag:yaml.org,2002:int"


class _Refused(Exception):
    """A bound crossed while reading the YAML, at a line of the file (1-based)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def _index_lines(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[loc + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, loc + (key,), out)
            out[loc + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, loc + (i,), out)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_graph(root: yaml.Node) -> None:
    """Refuse complex keys, over-long numbers, recursive aliases and aliases that expand past
    ``MAX_NODES``; aliases share nodes, so this walks each node once (iteratively, no recursion)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            if size[key] > MAX_NODES:
                raise _Refused(
                    node.start_mark.line + 1,
                    f"aliases expand this to more than {MAX_NODES} values; refused (an alias bomb?)",
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise _Refused(node.start_mark.line + 1, "an alias refers to the node that contains it")
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Refused(
                        key_node.start_mark.line + 1, "a key must be a plain value, not a list or mapping"
                    )
        elif (
            isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG and len(node.value) > MAX_NUMBER_CHARS
        ):
            raise _Refused(line, f"a number of {len(node.value)} characters (at most {MAX_NUMBER_CHARS})")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, a common operator slip that YAML silently accepts,
    and nesting deeper than ``MAX_DEPTH`` (PyYAML composes recursively: 100,000 levels crash it)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2024-13-45
            raise _Refused(node.start_mark.line + 1, f"cannot read the value: {exc}") from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text within the bounds above; returns the data and a map from key path to line."""
    if len(text) > MAX_CONFIG_BYTES:
        line = text.count("\n", 0, MAX_CONFIG_BYTES) + 1
        raise ConfigError([ConfigProblem(file, line, f"the text goes on past {MAX_CONFIG_BYTES} characters")])
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_graph(node)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise ConfigError([ConfigProblem(file, exc.line, exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([ConfigProblem(file, line, f"YAML syntax: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(file, 1, f"YAML syntax: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return (data if data is not None else {}), lines


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop pydantic's union markers (the tag of a ``type:`` union): they are not keys of the YAML."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if (
            isinstance(cur, dict)
            and part in cur
            or isinstance(cur, list)
            and isinstance(part, int)
            and 0 <= part < len(cur)
        ):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str):
            if cur.get("type") == part:
                continue  # the tag of a `type:`-discriminated union, not a key of the file
            out.append(part)
            cur = None
        else:
            continue
    return tuple(out)


def format_validation_error(exc: ValidationError, data: Any, lines: dict[Loc, int], file: str) -> ConfigError:
    problems: list[ConfigProblem] = []
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]), data)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = f"unknown key '{dotted}'"
        elif kind == "missing":
            msg = f"missing required key '{dotted}'"
        else:
            value = err.get("input")
            shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
            msg = f"{dotted}: {err['msg']}{shown}"
        problems.append(ConfigProblem(file, _line_for(loc, lines), msg))
    problems.sort(key=lambda p: p.line)
    return ConfigError(problems)


def read_config_text(path: str | Path) -> str:
    """The text of a config file, refused unread past ``MAX_CONFIG_BYTES``; :class:`ConfigError` else."""
    file = str(path)
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)  # never more: a 50 MB file is refused, not read
    except OSError as exc:
        raise ConfigError([ConfigProblem(file, 0, f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        line = raw.count(b"\n", 0, MAX_CONFIG_BYTES) + 1
        raise ConfigError(
            [ConfigProblem(file, line, f"the file goes on past {MAX_CONFIG_BYTES} bytes, more than a config")]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([ConfigProblem(file, line, f"not UTF-8 text: {exc.reason}")]) from None


def load_model(model: type[M], path: str | Path) -> M:
    """Read ``path`` and validate it against ``model``; raises :class:`ConfigError` with every problem."""
    return validate_text(model, read_config_text(path), str(path))


def validate_text(model: type[M], text: str, file: str = "<config>") -> M:
    data, lines = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(file, 1, "top level must be a mapping of keys to values")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, data, lines, file) from None
