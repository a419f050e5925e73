"""Fingerprints of everything that shapes a saved result, so nothing saved is reused wrongly.

:func:`fingerprint` hashes :func:`describe`'s description of functions (by behaviour), Keras
objects (by configuration), arrays (by bytes, shape and dtype) and plain values.
"""

from __future__ import annotations

import functools
import hashlib
import json
import types
from typing import Any

import keras
import numpy as np

__all__ = ["fingerprint", "describe"]

# Written by hand: no library hashes Python behaviour (pickle / cloudpickle bytes are not
# stable across sessions; joblib.hash treats a function by its name only). Functions are
# described by bytecode, constants, defaults, closure values and the module-level values and
# functions they use (so a changed partial margin or an edited helper changes the digest;
# comments, blank lines and position in the file do not). Keras objects by configuration,
# with automatic names (dense_3) replaced by order of appearance, since re-running a cell
# renames them. Code from these packages is described by name: it cannot change while a
# notebook runs.
_LIBRARY_PACKAGES = {
    "builtins",
    "keras",
    "tensorflow",
    "tf_keras",
    "numpy",
    "scipy",
    "sklearn",
    "jax",
    "torch",
    "pandas",
    "matplotlib",
    "PIL",
    "h5py",
    "tqdm",
    "IPython",
    "ipywidgets",
    "functools",
    "math",
    "operator",
    "typing",
}
_MAX_DEPTH = 12


def fingerprint(*parts: Any) -> str:
    """A hex SHA-256 digest of a description of every part: equal for equal behaviour.

    ``parts`` may be models, optimizers, losses (functions, ``functools.partial``, Keras
    ``Loss`` objects), metrics, arrays, numbers, strings and containers of these.

    Examples
    --------
    >>> import functools
    >>> def loss(x, margin=0.2):
    ...     return x + margin
    >>> fingerprint(functools.partial(loss, margin=0.2)) == fingerprint(
    ...     functools.partial(loss, margin=0.5))
    False
    >>> fingerprint([1, 2.0, "a"]) == fingerprint([1, 2.0, "a"])
    True
    """
    text = json.dumps(describe(list(parts)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def describe(value: Any, _seen: frozenset = frozenset(), _depth: int = 0) -> Any:
    """A JSON-serialisable description of ``value``'s behaviour; what :func:`fingerprint` hashes."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return [
            type(value).__name__,
            repr(value.item() if isinstance(value, np.generic) else value),
        ]
    if _depth > _MAX_DEPTH or id(value) in _seen:
        return ["ref", _qualified_name(type(value))]  # a cycle or a very deep structure
    seen, depth = _seen | {id(value)}, _depth + 1
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [describe(item, seen, depth) for item in value]]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted(json.dumps(describe(item, seen, depth)) for item in value)]
    if isinstance(value, dict):
        return [
            "dict",
            sorted(
                [json.dumps(describe(k, seen, depth)), describe(v, seen, depth)]
                for k, v in value.items()
            ),
        ]
    if isinstance(value, (np.ndarray, np.generic)) or _is_tensor(value):
        return _describe_array(value)
    if isinstance(value, functools.partial):
        return [
            "partial",
            describe(value.func, seen, depth),
            describe(value.args, seen, depth),
            describe(value.keywords, seen, depth),
        ]
    if isinstance(value, types.MethodType):
        return [
            "method",
            describe(value.__func__, seen, depth),
            _describe_class(type(value.__self__), seen, depth),
        ]
    if isinstance(value, types.FunctionType):
        return _describe_function(value, seen, depth)
    if isinstance(value, types.ModuleType):
        return ["module", value.__name__]
    if isinstance(value, type):
        return _describe_class(value, seen, depth)
    if isinstance(value, types.CodeType):
        return _describe_code(value)
    if callable(value) and not hasattr(value, "__dict__"):  # builtins, ufuncs, C functions
        return ["builtin", _qualified_name(value)]
    if isinstance(value, keras.Model):
        return ["model", _describe_model(value)]
    return _describe_object(value, seen, depth)


# --- the kinds of value ------------------------------------------------------------------------


def _is_tensor(value) -> bool:
    return (
        hasattr(value, "shape")
        and hasattr(value, "dtype")
        and hasattr(value, "numpy")
        or isinstance(value, keras.Variable)
    )


def _describe_array(value) -> list:
    array = np.ascontiguousarray(value.numpy() if hasattr(value, "numpy") else value)
    digest = hashlib.sha256(memoryview(array).cast("B") if array.size else b"").hexdigest()
    return ["array", list(array.shape), str(array.dtype), digest]


def _qualified_name(value) -> str:
    return f"{getattr(value, '__module__', None)}.{getattr(value, '__qualname__', repr(value))}"


def _is_library(value) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module.split(".")[0] in _LIBRARY_PACKAGES


def _describe_code(code: types.CodeType) -> list:
    # Not co_linetable/co_firstlineno: moving a function or editing a comment changes nothing.
    consts = [
        _describe_code(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts
    ]
    return [
        "code",
        code.co_code.hex(),
        consts,
        list(code.co_names),
        list(code.co_varnames),
        code.co_argcount,
        code.co_kwonlyargcount,
        code.co_flags,
    ]


def _describe_function(function: types.FunctionType, seen, depth) -> list:
    if _is_library(function):
        return ["function", _qualified_name(function)]
    code = function.__code__
    closure = [
        describe(cell.cell_contents, seen, depth) if _cell_is_set(cell) else "<empty>"
        for cell in (function.__closure__ or ())
    ]
    # Module-level values the code reads (a constant, another helper function): their
    # behaviour is part of this function's. Names not in globals are attributes or builtins.
    used = {
        name: describe(function.__globals__[name], seen, depth)
        for name in sorted(_global_names(code))
        if name in function.__globals__
    }
    return [
        "function",
        function.__qualname__,
        _describe_code(code),
        describe(function.__defaults__, seen, depth),
        describe(function.__kwdefaults__, seen, depth),
        closure,
        used,
    ]


def _cell_is_set(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _describe_class(cls: type, seen, depth) -> list:
    if _is_library(cls):
        return ["class", _qualified_name(cls)]
    # A user-defined class (a Loss or Layer subclass): its own methods and class attributes.
    members = {
        name: describe(member, seen, depth)
        for name, member in sorted(vars(cls).items())
        if not (name.startswith("__") and name not in ("__init__", "__call__"))
        and not isinstance(member, (property, types.GetSetDescriptorType))
    }
    bases = [_describe_class(base, seen, depth) for base in cls.__bases__ if base is not object]
    return ["class", cls.__qualname__, bases, members]


def _describe_model(model: keras.Model) -> Any:
    # The configuration names each layer's class but not its code: custom layers (and a
    # subclassed model, whose configuration may not show its layers at all) add their class
    # code, and the weights' shapes pin down what a configuration leaves out.
    classes = {}
    pending = [model]
    while pending:
        layer = pending.pop()
        if not _is_library(type(layer)):
            classes.setdefault(_qualified_name(type(layer)), describe(type(layer)))
        pending.extend(getattr(layer, "layers", None) or [])
    shapes = [list(weight.shape) for weight in model.weights]
    try:
        config = keras.saving.serialize_keras_object(model)
        config = _canonical_names(json.loads(json.dumps(config, default=repr)))
    except Exception:  # noqa: BLE001 - e.g. a subclassed model without get_config
        config = None  # classes and shapes only
    return ["config", config, sorted(classes.items()), shapes]


def _describe_object(value, seen, depth) -> list:
    description = [_describe_class(type(value), seen, depth)]
    config = None
    if hasattr(value, "get_config"):
        try:
            config = value.get_config()
        except Exception:  # noqa: BLE001 - any failure: fall back to the object's attributes
            config = None
    if isinstance(config, dict):
        config = {k: v for k, v in config.items() if k != "name"}  # auto-named, no behaviour
        description.append(["config", describe(config, seen, depth)])
    # A Keras LossFunctionWrapper / MeanMetricWrapper serialises its function by name only:
    # describe the function itself and its extra arguments.
    for attribute in ("fn", "_fn", "_fn_kwargs", "fn_kwargs"):
        if attribute in getattr(value, "__dict__", {}):
            description.append([attribute, describe(vars(value)[attribute], seen, depth)])
    if config is None and not isinstance(value, keras.layers.Layer):
        # A plain callable object: its attributes are its parameters.
        state = {k: v for k, v in getattr(value, "__dict__", {}).items() if not k.startswith("_")}
        description.append(["state", describe(state, seen, depth)])
    return ["object", description]


def _canonical_names(config: Any) -> Any:
    """Replace layer and model names by their order of first appearance in ``config``."""
    names: dict[str, str] = {}

    def collect(node):
        if isinstance(node, dict):
            inner = node.get("config")
            if (
                isinstance(inner, dict)
                and isinstance(inner.get("name"), str)
                and not str(node.get("class_name", "")).endswith("DTypePolicy")
            ):
                names.setdefault(inner["name"], f"<name {len(names)}>")
            for child in node.values():
                collect(child)
        elif isinstance(node, list):
            for child in node:
                collect(child)

    def rename(node):
        if isinstance(node, dict):
            return {key: rename(child) for key, child in node.items()}
        if isinstance(node, list):
            return [rename(child) for child in node]
        if isinstance(node, str):
            return names.get(node, node)
        return node

    collect(config)
    return rename(config)
