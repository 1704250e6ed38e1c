"""Import a Parameter Golf script as a module without running its main, at a config's env.

The script's source runs under a unique module name (`__name__` is never "__main__", so the
`if __name__ == "__main__": main()` guard stays shut) with the config env overlaid on os.environ
while it is imported (class bodies such as `Hyperparameters` read the env then). Imports that fail
here (flash_attn, triton and other CUDA-only packages) are replaced by inert stubs: the sizing
only needs the model classes, which are plain torch.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from typing import Any

from sweeper.script.source import ScriptSource, py311_compatible

LOCK = threading.Lock()  # os.environ is process-global: one script import/build at a time
_MODULES: dict[str, types.ModuleType] = {}
MAX_CACHED = 16


class StubbedImport:
    """Stands for anything from a package that cannot be imported here (e.g. flash_attn on CPU)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> StubbedImport:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return StubbedImport(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], StubbedImport):
            return args[0]  # used as a bare decorator (@triton.jit): keep the function
        return StubbedImport(f"{self._name}()")

    def __getitem__(self, _: Any) -> StubbedImport:
        return StubbedImport(f"{self._name}[]")

    def __mro_entries__(self, _: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)

    def __repr__(self) -> str:
        return f"<stub {self._name}>"


def _stub_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    setattr(module, "__getattr__", lambda attr: StubbedImport(f"{name}.{attr}"))  # noqa: B010 - module-level __getattr__
    return module


@contextlib.contextmanager
def overlaid_env(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `env` on top, restored afterwards (callers hold LOCK)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_module(source: ScriptSource, env: Mapping[str, str], stubbed: list[str]) -> types.ModuleType:
    """The script imported at `env` (cached per source and env); appends stubbed package names.

    Raises whatever the script's own import raises (the caller turns it into a fallback note).
    """
    key = hashlib.sha256(source.text.encode() + repr(sorted(env.items())).encode()).hexdigest()
    if key in _MODULES:
        stubbed.extend(getattr(_MODULES[key], "__pgolf_stubbed__", []))
        return _MODULES[key]
    name = f"pgolf_sized_{key[:16]}"
    module = types.ModuleType(name)
    module.__file__ = str(source.path)
    local_stubs: list[str] = []
    real_import = builtins.__import__

    def guarded_import(mod: str, globs: Any = None, locs: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        try:
            return real_import(mod, globs, locs, fromlist, level)
        except Exception:
            if level:
                raise
            local_stubs.append(mod)
            return _stub_module(mod if fromlist else mod.split(".")[0])

    module.__dict__["__builtins__"] = {**builtins.__dict__, "__import__": guarded_import}
    code = compile(py311_compatible(source.text), str(source.path), "exec")
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        with overlaid_env(env):
            exec(code, module.__dict__)  # noqa: S102 - the user's own script, imported without main
    except BaseException:
        del sys.modules[name]
        raise
    module.__pgolf_stubbed__ = sorted(set(local_stubs))  # type: ignore[attr-defined]
    stubbed.extend(module.__pgolf_stubbed__)  # type: ignore[attr-defined]
    if len(_MODULES) >= MAX_CACHED:
        sys.modules.pop(_MODULES.pop(next(iter(_MODULES))).__name__, None)
    _MODULES[key] = module
    return module
