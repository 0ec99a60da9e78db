# SPDX-License-Identifier: Apache-2.0
"""Run a function right after a module is imported, without importing it.

``import tuss_plugin`` must register the TUSS classes with ESPnet's
enhancement task, since ESPnet has no plugin discovery, yet must not import
ESPnet (about 4 s) in commands that never use it (``tuss-separate --help``,
data preparation, scoring). :func:`when_imported` defers the registration to
the moment ``espnet2.tasks.enh`` is imported, by whoever imports it; if it is
imported already, the function runs at once. Standard library only.

It is also what runs in every interpreter of an environment the package is
installed in (``tuss_plugin_autoregister.pth`` imports ``tuss_plugin``),
so it imports only built-in modules: no ``importlib.abc`` (which pulls in
``importlib.resources``), no ``threading``, no ``typing`` at run time.
"""

from __future__ import annotations

import _thread
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Callable, Dict, List

    Callback = Callable[[ModuleType], None]

_lock = _thread.RLock()
_pending: "Dict[str, List[Callback]]" = {}  # module name -> functions to run after it is imported


def when_imported(name: str, func: Callback) -> None:
    """Call ``func(module)`` once module ``name`` has been imported: now if it
    is in ``sys.modules``, else right after its code has run."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _pending.setdefault(name, []).append(func)
            if not any(isinstance(f, _AfterImportFinder) for f in sys.meta_path):
                sys.meta_path.insert(0, _AfterImportFinder())
            return
    func(module)


def _run_pending(module: ModuleType) -> None:
    with _lock:
        funcs = _pending.pop(module.__name__, [])
    for func in funcs:
        func(module)


class _AfterImportLoader:
    """Wraps a module's own loader: runs it, then the module's callbacks. Any
    other attribute (resources, source) is the wrapped loader's."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _run_pending(module)

    def __getattr__(self, attr: str):
        return getattr(self._loader, attr)


class _AfterImportFinder:
    """First on ``sys.meta_path``; for a module with pending callbacks it asks
    the finders after it for the spec and wraps the spec's loader."""

    def find_spec(self, fullname, path, target=None):
        with _lock:
            if fullname not in _pending:
                return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _AfterImportFinder):
                continue
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(fullname, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _AfterImportLoader(spec.loader)
                return spec
        return None
