"""What a graded notebook hands over at each check: values as data, never verdicts.

When a submission is graded, each check cell is replaced in the participant's kernel by a call to
:func:`snapshot`, which writes the values the instructor's check will read (every name the check
cell uses, hidden tests included) into ``exports/<n>/``. The checks themselves run later in the
referee (:mod:`workbench.grading.referee`), a fresh process that participant code never ran in, which
rebuilds the values with :func:`load`. So nothing the participant's cells did to the kernel (a
patched ``workbench.checks``, a rebound builtin, a printed tick) can reach a check: the worst a
tampered kernel can do is hand over values, and values are what the checks judge.

How each kind of value travels (chosen so that loading it runs no code the participant wrote):

==================================  ===============================================================
NumPy arrays, tensors               ``.npy`` without pickles; text arrays as JSON lists
numbers, strings, lists, dicts      JSON (tuples and dicts keep their type)
Keras models                        ``.keras``, reloaded with ``safe_mode=True`` (no lambdas)
Keras layers without weights        their config; a text vectorizer also its vocabulary
``History``                         its ``history``/``params``/``epoch``
``tf.data`` datasets                their elements as arrays (up to a limit) and element spec
a ``tf.distribute`` strategy        its class and devices
modules, library functions/classes  their import path
functions and classes defined in    their source (and the notebook values they use); they are
the notebook                        the participant's answer, so the referee must run them
anything else                       "unsupported": the check that needs it fails and says so
==================================  ===============================================================
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import json
import linecache
import types
from pathlib import Path

MANIFEST = "manifest.json"
DATASET_ELEMENTS = 20_000  # a quick-mode epoch of any lab is far below this
DATASET_REPEATED = 64  # elements kept of a dataset that repeats forever


class Unsupported:
    """Stands for a value the grader could not carry; any check that reads it fails with why."""

    def __init__(self, name: str, why: str):
        self.name, self.why = name, why

    def message(self) -> str:
        return (f"the grader could not hand `{self.name}` to this check ({self.why}); keep it a NumPy "
                "array, a Keras model, plain numbers/lists/dicts, or a function or class defined with "
                "def/class in the notebook.")


# --------------------------------------------------------------------------- kernel side


def snapshot(folder, names, namespace) -> None:
    """Write ``names`` from ``namespace`` (the notebook's globals) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    writer = _Writer(folder, namespace)
    entries = {}
    for name in names:
        entries[name] = writer.entry(name) if name in namespace else {"kind": "missing"}
    import sys

    # The package's modules the notebook imported: some register Keras objects (the IMDB
    # vectorizer's standardize function) that loading a saved model or layer needs.
    modules = sorted(name for name in sys.modules if name.startswith("workbench.") and
                     not name.startswith("workbench.grading"))
    manifest = {"values": entries, "support": writer.support, "definitions": writer.definitions,
                "modules": modules}
    (folder / MANIFEST).write_text(json.dumps(manifest, allow_nan=True))


def _defined_in_notebook(value) -> bool:
    return getattr(value, "__module__", None) == "__main__"


class _Writer:
    def __init__(self, folder: Path, namespace: dict):
        self.folder, self.namespace = folder, namespace
        self.support: dict[str, dict] = {}  # notebook globals that exported functions use
        self.definitions: dict[str, dict | None] = {}  # their sources, dependencies first
        self.files = 0

    def _file(self, suffix: str) -> str:
        self.files += 1
        return f"v{self.files}{suffix}"

    def entry(self, name: str) -> dict:
        try:
            return self.encode(self.namespace[name], name)
        except Exception as error:  # one value the grader cannot carry fails only its checks
            return {"kind": "unsupported", "why": f"{type(error).__name__}: {error}"[:300]}

    def encode(self, value, name: str) -> dict:
        import numpy as np

        if isinstance(value, types.ModuleType):
            return {"kind": "module", "module": value.__name__}
        if value is None or isinstance(value, bool | int | float | str):
            return {"kind": "json", "value": value}
        if isinstance(value, Path):
            return {"kind": "path", "value": str(value)}
        if isinstance(value, np.random.Generator):
            return {"kind": "generator", "bit_generator": type(value.bit_generator).__name__,
                    "state": value.bit_generator.state}
        if isinstance(value, np.ndarray | np.generic):
            return self._array(np.asarray(value), "array", scalar=isinstance(value, np.generic))
        if isinstance(value, list | tuple):
            return {"kind": type(value).__name__ if type(value) in (list, tuple) else "list",
                    "items": [self.encode(item, f"{name}[{i}]") for i, item in enumerate(value)]}
        if isinstance(value, dict):
            if not all(isinstance(key, str | int) for key in value):
                return {"kind": "unsupported", "why": "a dict whose keys are not strings or integers"}
            return {"kind": "dict", "items": [[key, self.encode(item, f"{name}[{key!r}]")]
                                               for key, item in value.items()]}
        if isinstance(value, types.FunctionType | type) and _defined_in_notebook(value):
            return self._definition(value, name)
        if isinstance(value, types.FunctionType | types.BuiltinFunctionType | type):
            return self._importable(value)
        return self._framework_value(value, name)

    def _array(self, array, kind: str, scalar: bool = False) -> dict:
        import numpy as np

        if array.dtype == object:
            if all(isinstance(item, str) for item in array.flat):
                return {"kind": "strings", "value": array.tolist(), "as": kind}
            raise TypeError(f"an object array of {type(next(iter(array.flat), None)).__name__}")
        file = self._file(".npy")
        np.save(self.folder / file, array, allow_pickle=False)
        return {"kind": kind, "file": file, "scalar": scalar}

    def _importable(self, value) -> dict:
        module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if module and qualname:
            try:
                found = importlib.import_module(module)
                for part in qualname.split("."):
                    found = getattr(found, part)
                if found is value:
                    return {"kind": "attribute", "module": module, "qualname": qualname}
            except (ImportError, AttributeError):
                pass
        raise TypeError(f"{value!r} cannot be imported by name")

    def _definition(self, value, name: str) -> dict:
        reference = {"kind": "definition", "name": value.__name__}
        if value.__name__ in self.definitions:
            return reference
        self.definitions[value.__name__] = None  # being written: breaks cycles
        source = _source_of(value)
        for used in sorted(_names_used(source)):
            if used in self.support or used == value.__name__ or used not in self.namespace:
                continue
            if hasattr(builtins, used) and self.namespace[used] is getattr(builtins, used):
                continue
            self.support[used] = {"kind": "pending"}
            self.support[used] = self.entry(used)
        del self.definitions[value.__name__]  # re-inserted after what it uses (base classes first)
        kind = "class" if isinstance(value, type) else "function"
        self.definitions[value.__name__] = {"kind": kind, "name": value.__name__, "source": source}
        return reference

    def _framework_value(self, value, name: str) -> dict:
        import keras
        import tensorflow as tf

        if isinstance(value, keras.Model):
            file = self._file(".keras")
            value.save(self.folder / file)
            distributed = any(hasattr(v.value, "values") for v in value.weights[:1])
            return {"kind": "model", "file": file, "distributed": distributed,
                    "classes": self._needed_definitions(value)}
        if isinstance(value, keras.callbacks.History):
            return {"kind": "history", "history": self.encode(value.history, name),
                    "params": self.encode(dict(value.params or {}), name), "epoch": list(value.epoch)}
        if isinstance(value, keras.layers.Layer):
            vocabulary = value.get_vocabulary() if hasattr(value, "get_vocabulary") else None
            weights = None
            if value.weights and vocabulary is None:
                import numpy as np

                weights = self._file(".npz")
                np.savez(self.folder / weights, *[np.asarray(w.numpy()) for w in value.weights])
            self._needed_definitions(value)
            return {"kind": "layer", "class": self.encode(type(value), name),
                    "config": keras.saving.serialize_keras_object(value.get_config()),
                    "build": value.get_build_config() if value.built else None,
                    "weights": weights, "vocabulary": vocabulary}
        if isinstance(value, tf.distribute.Strategy):
            return {"kind": "strategy", "class": type(value).__name__,
                    "devices": list(value.extended.worker_devices)}
        if isinstance(value, tf.data.Dataset):
            return self._dataset(value)
        if isinstance(value, tf.Tensor | tf.Variable):
            return self._array(value.numpy(), "tensor")
        raise TypeError(f"a {type(value).__module__}.{type(value).__qualname__}")

    def _needed_definitions(self, value) -> list[str]:
        """Notebook classes and functions that loading ``value`` needs: its own class, its layers'
        classes, and functions its configuration names (a vectorizer's ``standardize``, say)."""
        import keras

        needed = {type(value)}
        if isinstance(value, keras.Model):
            needed |= {type(layer) for layer in value._flatten_layers()}
        try:
            named = set(_strings(keras.saving.serialize_keras_object(value)))
        except Exception:  # a model that cannot describe itself is saved or refused elsewhere
            named = set()
        needed |= {self.namespace[n] for n in named if n in self.namespace and
                   isinstance(self.namespace[n], types.FunctionType | type)}
        found = []
        for item in needed:
            if _defined_in_notebook(item):
                self._definition(item, item.__name__)
                found.append(item.__name__)
        return sorted(found)

    def _dataset(self, dataset) -> dict:
        import numpy as np
        import tensorflow as tf

        spec = dataset.element_spec
        leaves = tf.nest.flatten(spec)
        if not all(isinstance(leaf, tf.TensorSpec) for leaf in leaves):
            raise TypeError("a dataset whose elements are not plain tensors")
        arrays = {}
        count = 0
        infinite = int(dataset.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
        if infinite:  # .repeat(): one pass of what repeats is enough to judge it
            dataset = dataset.take(DATASET_REPEATED)
        for count, element in enumerate(dataset.as_numpy_iterator(), 1):
            if count > DATASET_ELEMENTS:
                raise TypeError(f"a dataset of more than {DATASET_ELEMENTS} elements")
            for j, leaf in enumerate(tf.nest.flatten(element)):
                arrays[f"e{count - 1}_{j}"] = np.asarray(leaf)
        file = self._file(".npz")
        np.savez(self.folder / file, **arrays)
        structure = tf.nest.pack_sequence_as(spec, list(range(len(leaves))))
        return {"kind": "dataset", "file": file, "elements": count, "infinite": infinite,
                "prefetched": "Prefetch" in type(dataset).__name__ and not infinite,
                "structure": self.encode(structure, "spec"),
                "leaves": [[list(leaf.shape), leaf.dtype.name] for leaf in leaves]}


def _strings(tree):
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _strings(item)
    elif isinstance(tree, list | tuple):
        for item in tree:
            yield from _strings(item)


def _source_of(value) -> str:
    """The source of a notebook-defined function or class, from the kernel's cell cache."""
    if isinstance(value, types.FunctionType):
        return _dedent(inspect.getsource(value))
    # Python 3.11 cannot find a class defined in a notebook; its methods know their cell.
    for attribute in vars(value).values():
        code = getattr(attribute, "__code__", None) or getattr(getattr(attribute, "__func__", None),
                                                               "__code__", None)
        if code is None:
            continue
        tree = ast.parse("".join(linecache.getlines(code.co_filename)))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == value.__name__:
                return ast.get_source_segment("".join(linecache.getlines(code.co_filename)), node)
    raise TypeError(f"class {value.__name__} has no source the grader can find (define it with "
                    "`class` in a cell, with at least one method)")


def _dedent(source: str) -> str:
    import textwrap

    return textwrap.dedent(source)


def _names_used(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


# --------------------------------------------------------------------------- referee side


class Loader:
    """Rebuilds one snapshot's values into a namespace for the referee."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / MANIFEST).read_text())
        self.namespace: dict = {}
        self.classes: dict[str, type] = {}

    def strategy_devices(self) -> int:
        """How many logical CPUs a strategy in this snapshot was built over (0: none)."""
        found = [e for e in _walk(self.manifest) if e.get("kind") == "strategy"]
        return max((len(e["devices"]) for e in found), default=0)

    def load(self) -> dict:
        values, support = self.manifest["values"], self.manifest["support"]
        for module in self.manifest.get("modules", []):
            if module.startswith("workbench."):
                registering = getattr(importlib.import_module(module), "_register", None)
                if callable(registering):
                    registering()
        # Data and modules first; then the notebook's definitions, executed in this namespace so that
        # functions find the values and each other; then what needs the classes (models, layers).
        for name, entry in {**support, **values}.items():
            self.namespace[name] = self.decode(entry, name)
        for entry in self.manifest.get("definitions", {}).values():
            if entry is None:
                continue
            exec(compile(entry["source"], f"<notebook: {entry['name']}>", "exec"), self.namespace)
            if entry["kind"] == "class":
                self.classes[entry["name"]] = self.namespace[entry["name"]]
        # Strategies before models: a model built in a strategy's scope is loaded in it again.
        for name in sorted(self.namespace, key=lambda n: not _deferred_kind(self.namespace[n], "strategy")):
            self.namespace[name] = self.resolve(self.namespace[name])
        return self.namespace

    def resolve(self, value):
        if isinstance(value, _Deferred):
            return value.build(self)
        if isinstance(value, list | tuple) and any(isinstance(v, _Deferred) for v in value):
            return type(value)(self.resolve(v) for v in value)
        if isinstance(value, dict) and any(isinstance(v, _Deferred) for v in value.values()):
            return {key: self.resolve(v) for key, v in value.items()}
        return value

    def decode(self, entry: dict, name: str):
        kind = entry.get("kind")
        if kind == "missing":
            return _Missing(name)
        if kind in ("unsupported", "pending"):
            return Unsupported(name, entry.get("why", "not carried"))
        if kind == "module":
            return importlib.import_module(entry["module"])
        if kind == "json":
            return entry["value"]
        if kind == "path":
            return Path(entry["value"])
        if kind in ("array", "tensor"):
            import numpy as np

            array = np.load(self.folder / entry["file"], allow_pickle=False)
            if kind == "tensor":
                import tensorflow as tf

                return tf.constant(array)
            return array[()] if entry.get("scalar") else array
        if kind == "generator":
            import numpy as np

            bits = getattr(np.random, entry["bit_generator"])()
            bits.state = entry["state"]
            return np.random.Generator(bits)
        if kind == "strings":
            import numpy as np

            array = np.empty(len(entry["value"]), dtype=object)
            array[:] = entry["value"]
            return array
        if kind in ("list", "tuple"):
            items = [self.decode(item, f"{name}[{i}]") for i, item in enumerate(entry["items"])]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {key: self.decode(item, f"{name}[{key!r}]") for key, item in entry["items"]}
        if kind == "attribute":
            found = importlib.import_module(entry["module"])
            for part in entry["qualname"].split("."):
                found = getattr(found, part)
            return found
        if kind in ("model", "layer", "history", "strategy", "dataset", "definition"):
            return _Deferred(entry, name)
        return Unsupported(name, f"unknown kind {kind!r}")


class _Missing:
    def __init__(self, name: str):
        self.name = name


class _Deferred:
    """A framework value, built once the notebook's classes exist (models may need them)."""

    def __init__(self, entry: dict, name: str):
        self.entry, self.name = entry, name

    def build(self, loader: Loader):
        kind = self.entry["kind"]
        return getattr(self, f"_{kind}")(loader)

    def _model(self, loader: Loader):
        import keras

        custom = {name: loader.namespace[name] for name in self.entry["classes"] if name in loader.namespace}
        path = loader.folder / self.entry["file"]
        strategy = next((v for v in loader.namespace.values() if _is_strategy(v)), None)
        if self.entry.get("distributed") and strategy is not None:
            with strategy.scope():
                return keras.saving.load_model(path, custom_objects=custom, safe_mode=True)
        return keras.saving.load_model(path, custom_objects=custom, safe_mode=True)

    def _layer(self, loader: Loader):
        import keras

        cls = loader.resolve(loader.decode(self.entry["class"], self.name))
        custom = {name: value for name, value in loader.namespace.items()
                  if isinstance(value, types.FunctionType | type) and name in loader.manifest["definitions"]}
        with keras.saving.custom_object_scope(custom):
            config = keras.saving.deserialize_keras_object(self.entry["config"]) \
                if isinstance(self.entry["config"], dict) and "class_name" in self.entry["config"] \
                else self.entry["config"]
            layer = cls.from_config(config)
        if self.entry.get("vocabulary") is not None:
            layer.set_vocabulary(self.entry["vocabulary"])
        if self.entry.get("build") and self.entry.get("weights"):
            import numpy as np

            layer.build_from_config(self.entry["build"])
            stored = np.load(loader.folder / self.entry["weights"], allow_pickle=False)
            layer.set_weights([stored[f"arr_{i}"] for i in range(len(stored.files))])
        return layer

    def _definition(self, loader: Loader):
        return loader.namespace[self.entry["name"]]

    def _history(self, loader: Loader):
        import keras

        history = keras.callbacks.History()
        history.history = loader.decode(self.entry["history"], self.name)
        history.params = loader.decode(self.entry["params"], self.name)
        history.epoch = list(self.entry["epoch"])
        return history

    def _strategy(self, loader: Loader):
        import tensorflow as tf

        cls = getattr(tf.distribute, self.entry["class"], None)
        if cls is None:
            return Unsupported(self.name, f"strategy {self.entry['class']}")
        return cls(self.entry["devices"]) if self.entry["class"] == "MirroredStrategy" else cls()

    def _dataset(self, loader: Loader):
        import numpy as np
        import tensorflow as tf

        arrays = np.load(loader.folder / self.entry["file"], allow_pickle=False)
        leaves = self.entry["leaves"]
        structure = loader.decode(self.entry["structure"], self.name)
        specs = tf.nest.pack_sequence_as(
            structure, [tf.TensorSpec(shape, dtype) for shape, dtype in leaves])
        elements = [tf.nest.pack_sequence_as(structure, [arrays[f"e{i}_{j}"] for j in range(len(leaves))])
                    for i in range(self.entry["elements"])]

        def generate():
            yield from elements

        # Rebuilt with what the checks look at: its elements, its length, and whether it prefetches.
        rebuilt = tf.data.Dataset.from_generator(generate, output_signature=specs)
        if self.entry.get("infinite"):
            rebuilt = rebuilt.repeat()
        else:
            rebuilt = rebuilt.apply(tf.data.experimental.assert_cardinality(self.entry["elements"]))
        return rebuilt.prefetch(tf.data.AUTOTUNE) if self.entry.get("prefetched") else rebuilt


def _deferred_kind(value, kind: str) -> bool:
    return isinstance(value, _Deferred) and value.entry.get("kind") == kind


def _is_strategy(value) -> bool:
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "num_replicas_in_sync")


def _walk(entry):
    if isinstance(entry, dict):
        yield entry
        for value in entry.values():
            yield from _walk(value)
    elif isinstance(entry, list):
        for value in entry:
            yield from _walk(value)
