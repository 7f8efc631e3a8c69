"""Reading a params file into the typed tree; every problem becomes one line naming file, line and key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from reid.config.schema import PipelineConfig
from reid.config.section import Invalid
from reid.errors import ConfigError, InputError

MAX_REPORTED = 3  # problems spelled out in the one line; the rest are counted


def read_yaml(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping in `path` and the line of every key path ("stage2.lr" -> 57)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such params file; run from the repository root or pass --params FILE")
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path} line {mark.line + 1}" if mark else str(path)
        raise InputError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax there") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of sections (synth, data, ...), got {type(data).__name__}")
    return data, _key_lines(node, path)


def _key_lines(node: yaml.Node | None, path: Path, prefix: str = "") -> dict[str, int]:
    """The line of every key path; a key given twice in one mapping is refused (YAML would keep the last
    silently, where `dvc repro` refuses the file: the two must not read different values)."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name, line = f"{prefix}{key.value}", key.start_mark.line + 1
            if name in lines:
                raise InputError(f"{path} line {line}: {name} is given twice (also on line {lines[name]}); "
                                 f"keep one of them")
            lines[name] = line
            lines.update(_key_lines(value, path, name + "."))
    return lines


def load_config(path: str | os.PathLike = "params.yaml", overrides: list[str] | None = None) -> PipelineConfig:
    """The validated configuration in `path`, after `KEY=VALUE` overrides (dvc's `-S` syntax; VALUE is
    read as YAML: `train.epochs=1`, `protocol.targets=[MA]`, `model.clip=null`); a ConfigError (one
    line) for every wrong value."""
    data, lines = read_yaml(path)
    for item in overrides or []:
        _override(data, item)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, Path(path), lines) from None


def _override(data: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise InputError(f"--set '{item}': expected KEY=VALUE, e.g. train.epochs=1")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(f"--set '{item}': {part} is not a section")
    node[leaf] = yaml.safe_load(text)


def config_error(exc: ValidationError, path: Path, lines: dict[str, int]) -> ConfigError:
    """One ConfigError for a validation failure: the first problems, with file, line, key, value and fix."""
    problems = [_describe(err) for err in exc.errors()]
    key, value, text = problems[0]
    line = _line_of(key, lines)
    where = f"{path} line {line}" if line else str(path)
    extra = [f"{k}: {t}" if v is ... else f"{k} = {v!r}: {t}" for k, v, t in problems[1:MAX_REPORTED]]
    more = len(problems) - MAX_REPORTED
    tail = "; also " + "; ".join(extra) if extra else ""
    tail += f" (and {more} more)" if more > 0 else ""
    return ConfigError(f"{where}: {key}", value, text + tail)


def _line_of(key: str, lines: dict[str, int]) -> int | None:
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0]
    return None


def _describe(err: dict[str, Any]) -> tuple[str, Any, str]:
    """(dotted key, value, problem and fix) of one pydantic error."""
    loc = [str(part) for part in err["loc"] if not str(part).startswith(("literal[", "list[", "int", "constrained"))]
    key = ".".join(loc)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        return ".".join(filter(None, [key, cause.key])), cause.value, cause.problem
    kind = err["type"]
    if kind == "missing":
        return key, ..., "missing; add it (params.yaml and configs/paper.yaml list every key, with a comment)"
    if kind == "extra_forbidden":
        known = _known_keys(err["loc"][:-1])
        owners = [name for name in PipelineConfig.model_fields if name != str(err["loc"][0])
                  and _known_keys((name, *err["loc"][1:-1])) and str(err["loc"][-1]) in _known_keys((name, *err["loc"][1:-1]))]
        if owners:  # e.g. clip_fgdi's beta under clip_reid: each method's section holds its own keys only
            return key, err["input"], (f"unknown key here: it is a key of {owners[0]}, not of {err['loc'][0]}; "
                                       f"known keys here: {', '.join(known)}")
        return key, err["input"], f"unknown key; known keys here: {', '.join(known)} (check the spelling)"
    if kind == "string_pattern_mismatch" and key.endswith("device"):
        return key, err["input"], "allowed: auto, cpu, mps, cuda or cuda:N"
    if kind == "literal_error":
        return key, err["input"], f"allowed: {err['ctx']['expected']}"
    return key, err.get("input"), err["msg"].replace("Input should", "must")


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = PipelineConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
