"""One-line messages for a bad space file: `key: why`, naming the offending key.

pydantic reports every problem with a location tuple and a sentence; a space author wants all of
them at once, each as a dotted key with its line in the file, with a hint for a misspelt key.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence

import yaml
from pydantic import BaseModel, ValidationError

from sweeper.space_params import PARAM_TYPES


def yaml_problem(exc: yaml.YAMLError) -> str:
    """`invalid YAML at line L, column C: problem`."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"invalid YAML{where}: {problem}"


def key_line(text: str, loc: Sequence[str]) -> int | None:
    """The 1-based line of the deepest part of `loc` present in the YAML `text` (None if none is)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if str(k.value) == part), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def space_problems(exc: ValidationError, top: type[BaseModel], nested: Iterable[type[BaseModel]],
                   text: str = "") -> str:
    """Every validation error, each as `dotted.key: why (line L)` (the line where `text` has the key,
    or its closest parent), in file order, joined on one line. Unknown keys get a did-you-mean from the fields of
    `top` (at the top level) or of every model (deeper down)."""
    problems: list[tuple[float, str]] = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        if len(loc) >= 3 and loc[0] == "params" and loc[2] in PARAM_TYPES:
            del loc[2]  # the discriminator tag pydantic inserts
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = sorted({name for model in (top, *nested) for name in model.model_fields})
            close = difflib.get_close_matches(loc[-1], list(top.model_fields) if len(loc) == 1 else known, n=1)
            message = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
        if err["type"] == "missing":
            message = "required key is missing"
        text_of = f"{'.'.join(loc)}: {message}" if loc else message  # a cross-field rule names its key itself
        line = key_line(text, loc) if text else None
        problems.append((math.inf, text_of) if line is None else (line, f"{text_of} (line {line})"))
    unique = list(dict.fromkeys(text for _, text in sorted(problems, key=lambda p: p[0])))
    head = f"{len(unique)} problems: " if len(unique) > 1 else ""
    return head + "; ".join(unique)
