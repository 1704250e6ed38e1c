"""One-line messages for a bad space file: `key: why`, naming the offending key.

pydantic reports every problem with a location tuple and a sentence; a space author wants the first
problem, as a dotted key, with a hint for a misspelt key.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import yaml
from pydantic import BaseModel, ValidationError

from sweeper.space_params import PARAM_TYPES


def yaml_problem(exc: yaml.YAMLError) -> str:
    """`invalid YAML at line L, column C: problem`."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"invalid YAML{where}: {problem}"


def first_problem(exc: ValidationError, top: type[BaseModel], nested: Iterable[type[BaseModel]]) -> str:
    """The first validation error as `dotted.key: why`; unknown keys get a did-you-mean from the
    fields of `top` (at the top level) or of every model (deeper down)."""
    errors = exc.errors()
    err = errors[0]
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
    text = f"{'.'.join(loc)}: {message}" if loc else message  # a cross-field rule names its key itself
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return text + more
