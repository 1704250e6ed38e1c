"""Exact parameter count of a script's own model at a config's env, built on the meta device.

The script is imported without its main (`sweeper.script.loader`). Its model is the nn.Module
subclass defined in the script that is constructed in a function body but never inside another
module class (GPT builds Block builds MLP; a function builds GPT). The construction call is
taken from the function that logs the `...params:` line when there is one. Its arguments are
evaluated as the script would: every parameter of the enclosing function and every local bound to
`Hyperparameters(...)` is the script's own hyperparameters object, and the function's earlier
plain assignments are replayed (ones that fail are skipped). The count is the script's own
expression for the logged number (almost always `sum(p.numel() for p in model.parameters())`).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sweeper.script.loader import LOCK, load_module, overlaid_env
from sweeper.script.source import ScriptSource, py311_compatible

HYPERPARAMETER_CLASS_HINTS = ("Hyperparameters", "Hparams", "Config", "Args")


class BuildFailed(Exception):
    """The script's model could not be built exactly; the message says why (one line)."""


@dataclass(frozen=True)
class BuiltModel:
    params: int
    call: str  # the construction call as written in the script
    state_shapes: dict[str, tuple[tuple[int, ...], str]]  # state-dict name -> (shape, dtype)
    hyperparameters: Any
    module: ModuleType
    stubbed: tuple[str, ...]


@dataclass(frozen=True)
class _Site:
    function: ast.FunctionDef
    call: ast.Call
    model_class: str
    counter: ast.expr | None  # the expression whose value is logged as ...params:N
    model_var: str | None


def build_model(source: ScriptSource, env: Mapping[str, str]) -> BuiltModel:
    """Import the script at `env` and build its model on meta; raises BuildFailed with the reason."""
    import torch

    tree = ast.parse(py311_compatible(source.text))
    site = _find_site(tree)
    stubbed: list[str] = []
    with LOCK:
        try:
            module = load_module(source, env, stubbed)
        except Exception as exc:  # noqa: BLE001 - any import-time failure of a user's script
            raise BuildFailed(f"importing the script failed ({type(exc).__name__}: {_short(exc)})") from None
        with overlaid_env(env):
            namespace, hp = _function_namespace(module, site.function, site.call)
            try:
                args = [_eval(a, namespace) for a in site.call.args]
                kwargs = {k.arg: _eval(k.value, namespace) for k in site.call.keywords if k.arg}
            except Exception as exc:  # noqa: BLE001
                raise BuildFailed(f"cannot evaluate the arguments of {ast.unparse(site.call.func)}(...) "
                                  f"({type(exc).__name__}: {_short(exc)})") from None
            model_cls = getattr(module, site.model_class)
            model = _construct(model_cls, args, kwargs)
            params = _count(model, site, namespace)
    shapes = {name: (tuple(t.shape), str(t.dtype).removeprefix("torch."))
              for name, t in model.state_dict(keep_vars=True).items() if isinstance(t, torch.Tensor)}
    call = ast.unparse(site.call)
    return BuiltModel(params=params, call=call if len(call) < 100 else call[:97] + "...",
                      state_shapes=shapes, hyperparameters=hp, module=module, stubbed=tuple(sorted(set(stubbed))))


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def _construct(model_cls: type, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """The model on the meta device (no memory, no init cost); on CPU if meta cannot build it."""
    import torch

    errors = []
    for device in ("meta", "cpu"):
        try:
            with torch.device(device):
                return model_cls(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the user's constructor
            errors.append(f"{device}: {type(exc).__name__}: {_short(exc)}")
    raise BuildFailed(f"constructing {model_cls.__name__} failed ({'; '.join(errors)})")


def _model_classes(tree: ast.Module) -> set[str]:
    """Top-level classes deriving (directly or through each other) from nn.Module."""
    bases = {node.name: [ast.unparse(b) for b in node.bases] for node in tree.body if isinstance(node, ast.ClassDef)}
    modules: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, parents in bases.items():
            if name not in modules and any(p.endswith("Module") or p in modules for p in parents):
                modules.add(name)
                changed = True
    return modules


def _find_site(tree: ast.Module) -> _Site:
    modules = _model_classes(tree)
    if not modules:
        raise BuildFailed("the script defines no nn.Module subclass")
    built_inside_modules: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in modules:
            built_inside_modules |= {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call)
                                     and isinstance(c.func, ast.Name) and c.func.id in modules}
    roots = modules - built_inside_modules
    functions = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                 and not any(f in ast.walk(c) for c in tree.body if isinstance(c, ast.ClassDef) and c.name in modules)]
    sites: list[_Site] = []
    for function in functions:
        counter = _params_counter(function)
        for call in ast.walk(function):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in roots:
                sites.append(_Site(function, call, call.func.id, counter, _bound_name(function, call)))
    if not sites:
        raise BuildFailed(f"no function constructs the model ({', '.join(sorted(roots))} never called)")
    logged = [s for s in sites if s.counter is not None]
    return min(logged or sites, key=lambda s: s.call.lineno)


def _bound_name(function: ast.FunctionDef, call: ast.Call) -> str | None:
    """The variable the constructed model is assigned to (through `.to(...)` chains)."""
    for node in ast.walk(function):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and any(sub is call for sub in ast.walk(node.value))):
            return node.targets[0].id
    return None


def _params_counter(function: ast.FunctionDef) -> ast.expr | None:
    """The expression logged after a `params:` label in this function, resolved through one local."""
    assigned = {n.targets[0].id: n.value for n in ast.walk(function)
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)}
    for node in ast.walk(function):
        if not isinstance(node, ast.JoinedStr):
            continue
        for before, value in zip(node.values, node.values[1:], strict=False):
            if (isinstance(before, ast.Constant) and str(before.value).rstrip().endswith("params:")
                    and isinstance(value, ast.FormattedValue)):
                expr = value.value
                if isinstance(expr, ast.Name) and expr.id in assigned:
                    expr = assigned[expr.id]
                if "numel" in ast.unparse(expr):
                    return expr
    return None


def _function_namespace(module: ModuleType, function: ast.FunctionDef, call: ast.Call) -> tuple[dict[str, Any], Any]:
    """Globals + the function's parameters bound to the script's hyperparameters (a `device` to meta)
    + replayed locals."""
    import torch

    hp_class = next((getattr(module, n) for n in HYPERPARAMETER_CLASS_HINTS if isinstance(getattr(module, n, None), type)),
                    None)
    if hp_class is None:
        raise BuildFailed("the script has no Hyperparameters class")
    try:
        hp = hp_class.from_env() if callable(getattr(hp_class, "from_env", None)) else hp_class()
    except Exception as exc:  # noqa: BLE001 - the script's own validation of the env
        raise BuildFailed(f"{hp_class.__name__}() rejected the env ({type(exc).__name__}: {_short(exc)})") from None
    namespace = dict(module.__dict__)
    for arg in function.args.args + function.args.kwonlyargs:
        namespace[arg.arg] = torch.device("meta") if "device" in arg.arg else hp
    for stmt in function.body:
        if stmt.lineno >= call.lineno:
            break
        if isinstance(stmt, ast.Assign) and all(isinstance(t, (ast.Name, ast.Tuple)) for t in stmt.targets):
            value = stmt.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == hp_class.__name__:
                namespace.update({t.id: hp for t in stmt.targets if isinstance(t, ast.Name)})
                continue
            try:
                exec(compile(ast.Module(body=[stmt], type_ignores=[]), "<replay>", "exec"), namespace)  # noqa: S102
            except Exception:  # noqa: BLE001,S112 - a local the model does not need (devices, data, logs)
                continue
    return namespace, hp


def _eval(node: ast.expr, namespace: dict[str, Any]) -> Any:
    return eval(compile(ast.Expression(node), "<model-args>", "eval"), namespace)


def _count(model: Any, site: _Site, namespace: dict[str, Any]) -> int:
    """The script's own logged count expression on the built model, else all its parameters."""
    if site.counter is not None and site.model_var:
        try:
            return int(_eval(site.counter, {**namespace, site.model_var: model}))
        except Exception:  # noqa: BLE001,S110 - fall through to the plain count
            pass
    return sum(p.numel() for p in model.parameters())
