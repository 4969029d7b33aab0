"""The YAML config: read safely, validated into frozen dataclasses, in this one place.

    seed: 0
    task: auto                                   (or classification, regression)
    data:  {dataset, target, test_size, val_size, standardize, standardize_target,
            drop, id, categorical, missing, delimiter, header}     (the last six: CSV files)
    model: {hidden, activation, dtype, init_from}
    train: {epochs, batch_size, shuffle, weight_decay, optimizer: {name, ...},
            lr_schedule: {name, ...}, early_stopping: {...} or null}

Every key has a default except `data.dataset`. An unknown key at any depth, a wrong type or a
value out of range is a `ConfigError` whose line names the file, the dotted key and the value;
a config with several such mistakes gets one `ConfigError` with one line for each. `null`
stands for "the default" only where the default is null (`data.target`, `model.init_from`,
`train.early_stopping`); elsewhere it is a wrong type like any other.

Paths in a config (a CSV dataset, `model.init_from`) written in the file are relative to the
file's folder, and those given with `--set` to the working directory; either way the run
stores them absolute (`load_config`), so that it reads the same files from anywhere.

Files and `--set` values are read with PyYAML's safe loader (no tags that build Python objects),
taught one YAML 1.2 habit: `1e-3` is a number, not the string '1e-3'.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cli.yamlsafe import TooLargeError, read_text, safe_load
from data import DATASETS, TableSettings, is_table_path
from data.encoding import MISSING_POLICIES
from data.table import DECIMALS, DELIMITERS
from mlp.early_stopping import EarlyStopping
from mlp.functions import ACTIVATIONS, DEFAULT_ACTIVATION
from mlp.heads import HEADS
from mlp.hyperparams import HyperparameterError, Param
from mlp.network import DTYPES
from mlp.optimizers import DEFAULT_OPTIMIZER
from mlp.optimizers import OPTIMIZERS as OPTIMIZER_CLASSES
from mlp.schedules import DEFAULT_SCHEDULE
from mlp.schedules import SCHEDULES as SCHEDULE_KINDS


class ConfigError(ValueError):
    """A config that cannot be used; str(err) is one line per mistake, each naming the file,
    key and value.

    `key` is the dotted key at fault (None for problems with the file as a whole) and `detail`
    what is wrong with it, so that a caller can say which `--set` introduced the value; for
    several mistakes they are the first one's, and `errors` holds each one-line error.
    """

    def __init__(self, message: str, key: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.key, self.detail = key, detail
        self.errors: tuple[ConfigError, ...] = (self,)

    @classmethod
    def combined(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error for all of `errors` (each may itself hold several), one line each."""
        flat = [one for err in errors for one in err.errors]
        if len(flat) == 1:
            return flat[0]
        first = flat[0]
        err = cls("\n".join(str(one) for one in flat), first.key, first.detail)
        err.errors = tuple(flat)
        return err


class _Problems:
    """The mistakes found so far while validating, so that all of them are reported at once."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    def attempt(self, build: Callable[..., Any], *args: Any) -> Any:
        """build(*args), or None after noting the ConfigError it raised."""
        try:
            return build(*args)
        except ConfigError as err:
            self.found.append(err)
            return None

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError.combined(self.found)


# -- the schema --------------------------------------------------------------------------------


_TABLE = TableSettings()  # the defaults of the CSV keys
# The config's `task`: each head declares the task it serves (mlp/heads.py); "auto" decides
# from the data.
AUTO_TASK = "auto"
TASKS = (AUTO_TASK, *dict.fromkeys(head.task for head in HEADS.values()))


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split and scaled."""

    dataset: str
    # the label column, or the target column(s) of a regression (None: the last column)
    target: str | tuple[str, ...] | None = None
    test_size: float = 0.2
    val_size: float = 0.1
    standardize: bool = True
    # a regression's targets standardised with the training rows' mean and std (and the
    # predictions turned back into the targets' units)
    standardize_target: bool = True
    # CSV files only: which columns are what, and how the file is read; declared, with their
    # defaults, by data/tabular.py's TableSettings
    drop: tuple[str, ...] = _TABLE.drop
    id: str | None = _TABLE.id
    categorical: str | tuple[str, ...] = _TABLE.categorical
    missing: str = _TABLE.missing
    delimiter: str = _TABLE.delimiter
    header: bool = _TABLE.header
    decimal: str = _TABLE.decimal
    max_categories: int = _TABLE.max_categories


@dataclass(frozen=True)
class ModelConfig:
    """The network between the data's input and output sizes."""

    hidden: tuple[int, ...] = (128,)
    activation: str = DEFAULT_ACTIVATION
    dtype: str = "float64"
    init_from: str | None = None


def _declared(class_name: str, name: str, params: Sequence[Param], doc: str) -> type:
    """A frozen dataclass with one field per declared hyperparameter, in declared order.

    `name` (the registry name) is a class attribute, not a field; `PARAMS` maps each field to
    its declaration, whose check the config applies.
    """
    fields = [(p.name, p.kind, field(default=p.default)) for p in params]
    namespace = {"name": name, "PARAMS": {p.name: p for p in params}, "__doc__": doc}
    return dataclasses.make_dataclass(class_name, fields, frozen=True, namespace=namespace)


def _summary(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0]


@functools.cache
def _optimizer_config(cls: type) -> type:
    return _declared(f"{cls.__name__}Config", cls.name, cls.PARAMS, _summary(cls.__doc__))


@functools.cache
def _schedule_config(kind: Any) -> type:
    return _declared(f"{kind.name.capitalize()}Schedule", kind.name, kind.PARAMS, kind.help)


class _DerivedConfigs(Mapping):
    """name -> the config dataclass derived from that entry of a registry in mlp/.

    The registry is read at each look-up, so an entry added to it at run time (the one line
    docs/adding-an-optimizer.md asks for, or a test's throwaway optimizer) is a config choice
    at once; each declaration's dataclass is derived once.
    """

    def __init__(self, registry: Mapping[str, Any], derive: Callable[[Any], type]) -> None:
        self._registry, self._derive = registry, derive

    def __getitem__(self, name: str) -> type:
        return self._derive(self._registry[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)


# One dataclass per optimizer and per schedule, derived from the declarations in mlp/.
OPTIMIZERS: Mapping[str, type] = _DerivedConfigs(OPTIMIZER_CLASSES, _optimizer_config)
SCHEDULES: Mapping[str, type] = _DerivedConfigs(SCHEDULE_KINDS, _schedule_config)
OptimizerConfig = Any  # an instance of one of OPTIMIZERS' dataclasses
ScheduleConfig = Any  # an instance of one of SCHEDULES' dataclasses

# Early stopping's own settings, and whether the run ends with the best epoch's weights.
RESTORE_BEST = Param("restore_best", True, bool, help="end with the best epoch's weights")
EarlyStoppingConfig = _declared(
    "EarlyStoppingConfig",
    "early_stopping",
    (*EarlyStopping.PARAMS, RESTORE_BEST),
    "Stop when a validation metric stops improving; needs data.val_size > 0.",
)


@dataclass(frozen=True)
class TrainConfig:
    """How long and how the network is trained."""

    epochs: int = 50
    batch_size: int = 32
    shuffle: bool = True
    weight_decay: float = 0.0
    optimizer: OptimizerConfig = field(default_factory=lambda: OPTIMIZERS[DEFAULT_OPTIMIZER]())
    lr_schedule: ScheduleConfig = field(default_factory=lambda: SCHEDULES[DEFAULT_SCHEDULE]())
    early_stopping: EarlyStoppingConfig | None = None
    # "none", "balanced" (n / (K n_k), as scikit-learn), or {class label (as text): weight}
    class_weight: str | dict[str, float] = "none"
    # measure each layer after every epoch and apply the rules of mlp/diagnostics.py
    diagnostics: bool = True


@dataclass(frozen=True)
class Config:
    """A whole, validated config; the same object drives train, eval and gradcheck."""

    seed: int
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    # "auto" (decided from the data: see data/tabular.py), or one of TASKS
    task: str = AUTO_TASK
    # What the CLI should say about settings that do not apply (not part of the saved config).
    notes: tuple[str, ...] = field(default=(), compare=False)


# train.class_weight's named settings; a mapping of class labels to weights is the third form
CLASS_WEIGHTS = ("none", "balanced")

SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
TOP_LEVEL = ("seed", "task", *SECTIONS)


def describe(cls: type) -> str:
    """'lr = 0.1 (a number > 0), momentum = 0.9 (...)': a section's declared keys, in words.

    The README's config reference quotes these; a test keeps the two equal.
    """
    return ", ".join(
        f"{p.name} = {_default_text(p.default)} ({p.allowed()})" for p in cls.PARAMS.values()
    )


def _default_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- value checks: each returns the cleaned value or raises ValueError("must be ...") ---------

# Values in messages are cut short: a message stays one readable line whatever the file holds.
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxdict = 6


def _shown(value: Any) -> str:
    return _repr.repr(value)


def _integer(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    """The check of an integer key (the declared hyperparameters' own rule, mlp/hyperparams.py)."""
    return Param("", minimum, int, low=minimum, high=maximum).check


def _number(low: float, high: float | None = None) -> Callable[[Any], float]:
    """The check of a number key in [low, high), or >= low without `high`."""
    return Param("", low, float, low=low, high=high, open_high=high is not None).check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _choice(choices: Sequence[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return check


def _dataset(value: Any) -> str:
    value = _text(value)
    if value not in DATASETS and not is_table_path(value):
        raise ValueError(
            f"must be one of {', '.join(DATASETS)}, or a path to a .csv, .tsv or .txt file"
        )
    return value


def _column_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of column names, e.g. [id, notes] ([] for none)")
    return tuple(value)


def _target(value: Any) -> str | tuple[str, ...] | None:
    if not isinstance(value, list):
        return _optional_text(value)
    names = _column_names(value) if value else None
    if not names or len(set(names)) != len(names):
        raise ValueError("must be a column name, or a list of distinct column names")
    return names[0] if len(names) == 1 else names


def _categorical(value: Any) -> str | tuple[str, ...]:
    if value == "auto":
        return value
    try:
        return _column_names(value)
    except ValueError:
        raise ValueError("must be auto, or a list of column names") from None


def _delimiter(value: Any) -> str:
    if value not in ("auto", *DELIMITERS):
        shown = ", ".join(repr(d) for d in DELIMITERS)
        raise ValueError(f"must be auto or one of {shown} (for decimal commas: data.decimal)")
    return value


def _class_weight(value: Any) -> str | dict[str, float]:
    if value is None or value in CLASS_WEIGHTS:
        return value or "none"
    message = f"must be {' or '.join(CLASS_WEIGHTS)}, or a mapping of class labels to weights > 0"
    if not isinstance(value, dict) or not value:
        raise ValueError(message)
    weights = {}
    for label, weight in value.items():
        good_label = isinstance(label, (str, int, float)) and not isinstance(label, bool)
        good_weight = isinstance(weight, (int, float)) and not isinstance(weight, bool)
        if not (good_label and good_weight and 0 < weight < float("inf")):
            raise ValueError(message)
        weights[str(label)] = float(weight)
    return weights


def _hidden(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list of layer sizes, e.g. [128] or [256, 128] ([] for none)")
    check = _integer(1)
    try:
        return tuple(check(size) for size in value)
    except ValueError:
        raise ValueError("must be a list of integers >= 1") from None


CHECKS: dict[str, Callable[[Any], Any]] = {
    "seed": _integer(0, 2**32 - 1),
    "task": _choice(TASKS),
    "data.dataset": _dataset,
    "data.target": _target,
    "data.test_size": _number(0.0, 1.0),
    "data.val_size": _number(0.0, 1.0),
    "data.standardize": _boolean,
    "data.standardize_target": _boolean,
    "data.drop": _column_names,
    "data.id": _optional_text,
    "data.categorical": _categorical,
    "data.missing": _choice(MISSING_POLICIES),
    "data.delimiter": _delimiter,
    "data.header": _boolean,
    "data.decimal": _choice(DECIMALS),
    "data.max_categories": _integer(2),
    "model.hidden": _hidden,
    "model.activation": _choice(tuple(ACTIVATIONS)),
    "model.dtype": _choice(DTYPES),
    "model.init_from": _optional_text,
    "train.epochs": _integer(1),
    "train.batch_size": _integer(1),
    "train.shuffle": _boolean,
    "train.weight_decay": _number(0.0),
    "train.class_weight": _class_weight,
    "train.diagnostics": _boolean,
}

# Sub-sections chosen by a `name` key: each name has its own dataclass and keys.
NAMED_SECTIONS: dict[str, tuple[Mapping[str, type], str]] = {
    "train.optimizer": (OPTIMIZERS, DEFAULT_OPTIMIZER),
    "train.lr_schedule": (SCHEDULES, DEFAULT_SCHEDULE),
}


# -- building the dataclasses --------------------------------------------------------------------


def _key_text(key: object) -> str:
    """A key as a message shows it: as written, or quoted if it is not printable text."""
    return key if isinstance(key, str) and key.isprintable() else repr(key)


def _fail(where: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {key}: {message}", key=key, detail=message)


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _mapping(where: str, key: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail(where, key, f"must be a mapping of keys to values, got {_shown(value)}")
    return value


def _unknown_keys(where: str, prefix: str, raw: dict, valid: Sequence[str]) -> None:
    """Every key of `raw` that is not in `valid`, one line each."""
    problems = _Problems()
    for key in raw:
        if key not in valid:
            path = f"{prefix}.{_key_text(key)}" if prefix else _key_text(key)
            problems.found.append(
                _fail(where, path, f"unknown key (valid: {', '.join(sorted(valid))})")
            )
    problems.raise_any()


def _checked(where: str, path: str, value: Any, cls: type | None = None) -> Any:
    """The value cleaned by its check: the declared one of `cls`'s field, else CHECKS[path]."""
    declared = getattr(cls, "PARAMS", {})
    name = path.rpartition(".")[2]
    try:
        return declared[name].check(value) if name in declared else CHECKS[path](value)
    except ValueError as err:
        raise _fail(where, path, f"{err}, got {_shown(value)}") from None


def _build(
    where: str,
    prefix: str,
    cls: type,
    raw: dict,
    built: dict | None = None,
    valid_extra: Sequence[str] = (),
) -> Any:
    """cls(**checked values), with dataclass defaults for the keys `raw` leaves out; every
    unknown key and every bad value reported at once.

    `built` holds sub-sections the caller has already turned into dataclasses; `valid_extra`
    names keys the caller has taken out of `raw` already (a named section's `name`).
    """
    problems = _Problems()
    problems.attempt(_unknown_keys, where, prefix, raw, [*valid_extra, *_field_names(cls)])
    values = dict(built or {})
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}"
        if f.name in values:
            continue
        if f.name in raw:
            values[f.name] = problems.attempt(_checked, where, path, raw[f.name], cls)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.found.append(_fail(where, path, "is required"))
    problems.raise_any()
    return cls(**values)


def _named_class(path: str, name: object) -> type | None:
    """The dataclass that `name` picks in the named section at `path` (None: no such name)."""
    registry, _ = NAMED_SECTIONS[path]
    # A list or a mapping as the name is unhashable: test the type before the lookup.
    return registry.get(name) if isinstance(name, str) else None


def _named(where: str, path: str, raw: Any) -> Any:
    """A sub-section whose `name` picks its dataclass (an optimizer, a schedule)."""
    registry, default = NAMED_SECTIONS[path]
    raw = dict(_mapping(where, path, raw))
    name = raw.pop("name", default)
    cls = _named_class(path, name)
    if cls is None:
        raise _fail(
            where, f"{path}.name", f"must be one of {', '.join(registry)}, got {_shown(name)}"
        )
    # Unknown keys and bad values of the known ones are reported together, in one go.
    return _build(where, path, cls, raw, valid_extra=("name",))


def _early_stopping(where: str, raw: Any, data: DataConfig | None) -> EarlyStoppingConfig | None:
    """Early stopping's settings; `data` None (itself wrong) skips the check against it."""
    if raw is None:  # null (the default) turns it off
        return None
    path = "train.early_stopping"
    stopping = _build(where, path, EarlyStoppingConfig, _mapping(where, path, raw))
    if data is not None and data.val_size == 0:
        raise _fail(where, path, "needs a validation split (data.val_size > 0)")
    return stopping


def _train(where: str, raw: dict, data: DataConfig | None) -> TrainConfig:
    raw = dict(raw)
    problems = _Problems()
    built = {
        "optimizer": problems.attempt(_named, where, "train.optimizer", raw.pop("optimizer", {})),
        "lr_schedule": problems.attempt(
            _named, where, "train.lr_schedule", raw.pop("lr_schedule", {})
        ),
        "early_stopping": problems.attempt(
            _early_stopping, where, raw.pop("early_stopping", None), data
        ),
    }
    train = problems.attempt(_build, where, "train", TrainConfig, raw, built)
    problems.raise_any()
    _check_optimizer(where, train)  # rules across keys: only once each key is right
    return train


def _check_optimizer(where: str, train: TrainConfig) -> None:
    """The rules an optimizer's declaration sets on its own values and on the rest of train."""
    optimizer = train.optimizer
    cls = OPTIMIZER_CLASSES[optimizer.name]
    try:
        cls.validate(dataclasses.asdict(optimizer))  # rules tying two hyperparameters together
    except HyperparameterError as err:
        raise _fail(where, f"train.optimizer.{err.key}", err.detail) from None
    if cls.decoupled_weight_decay and train.weight_decay != 0:
        raise _fail(
            where,
            "train.weight_decay",
            f"must be 0 with {cls.name}, which decays the weights itself "
            f"(set train.optimizer.weight_decay), got {_shown(train.weight_decay)}",
        )
    if cls.full_batch and train.lr_schedule.name != DEFAULT_SCHEDULE:
        raise _fail(
            where,
            "train.lr_schedule",
            f"{cls.name} chooses its own step lengths: no learning-rate schedule applies, "
            f"got {train.lr_schedule.name}",
        )


def _notes(raw_train: dict, train: TrainConfig) -> tuple[str, ...]:
    """Settings the file sets that the chosen optimizer ignores, in words for the header."""
    cls = OPTIMIZER_CLASSES[train.optimizer.name]
    ignored = [f"train.{key}" for key in ("batch_size", "shuffle") if key in raw_train]
    if not (cls.full_batch and ignored):
        return ()
    return (
        f"{' and '.join(ignored)} do not apply: {cls.name} takes the whole training set at "
        f"each iteration (train.epochs is its iteration limit)",
    )


def _validate(raw: Any, where: str) -> Config:
    if not isinstance(raw, dict):
        got = "; the config is empty" if raw is None else f", got {_shown(raw)}"
        raise ConfigError(
            f"{where}: the top level must be a mapping of seed, task, data, model, train{got}"
        )
    # Every section is checked even after a mistake in another, so that one run of the
    # command reports every mistake in the file.
    problems = _Problems()
    problems.attempt(_unknown_keys, where, "", raw, TOP_LEVEL)
    if "data" not in raw:
        problems.found.append(
            _fail(where, "data.dataset", "is required (e.g. data: {dataset: digits})")
        )
    sections = {
        name: problems.attempt(_mapping, where, name, raw.get(name, {})) for name in SECTIONS
    }
    data = model = train = None
    if "data" in raw and sections["data"] is not None:
        data = problems.attempt(_build, where, "data", DataConfig, sections["data"])
    if data is not None and data.target is not None and data.dataset in DATASETS:
        problems.found.append(
            _fail(
                where,
                "data.target",
                f"only a CSV dataset takes a label column name, "
                f"got {_shown(data.target)} with {data.dataset}",
            )
        )
    if sections["model"] is not None:
        model = problems.attempt(_build, where, "model", ModelConfig, sections["model"])
    if sections["train"] is not None:
        train = problems.attempt(_train, where, sections["train"], data)
    seed = problems.attempt(_checked, where, "seed", raw["seed"]) if "seed" in raw else 0
    task = problems.attempt(_checked, where, "task", raw["task"]) if "task" in raw else AUTO_TASK
    problems.raise_any()
    notes = _notes(sections["train"], train)
    return Config(seed=seed, data=data, model=model, train=train, task=task, notes=notes)


# -- reading YAML --------------------------------------------------------------------------------


def _first_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _yaml_problem(err: yaml.YAMLError) -> str:
    """Where and what, in one line: 'line 3, column 7: found unexpected end of stream'."""
    mark = getattr(err, "problem_mark", None)
    at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return at + (getattr(err, "problem", None) or _first_line(err))


def _parsed(text: str, where: str, invalid: str = "invalid YAML") -> object:
    """safe_load(text), with every way YAML text can fail turned into a one-line ConfigError."""
    try:
        return safe_load(text)
    except TooLargeError as err:
        raise ConfigError(f"{where}: {err.problem}") from None
    except yaml.constructor.ConstructorError as err:
        if "constructor for the tag" not in str(err.problem):  # e.g. a list used as a key
            raise ConfigError(f"{where}: {invalid} at {_yaml_problem(err)}") from None
        raise ConfigError(
            f"{where}: {_yaml_problem(err)}; only plain YAML values are allowed (no !!python tags)"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: {invalid} at {_yaml_problem(err)}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"{where}: {invalid}: nested too deeply") from None


def read_yaml(path: str | Path) -> object:
    """The file's YAML, read with the safe loader (no tags that construct Python objects)."""
    path = Path(path)
    try:
        text = read_text(path)  # refused past yamlsafe.MAX_BYTES before reading further
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except TooLargeError as err:
        raise ConfigError(f"{path}: {err.problem}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    return _parsed(text, str(path))


# -- overrides -----------------------------------------------------------------------------------

# The dataclass behind each section an override can reach into (named sections aside).
SECTION_CLASSES: dict[str, type] = {**SECTIONS, "train.early_stopping": EarlyStoppingConfig}


def _schema_keys(path: Sequence[str], raw: dict) -> list[str] | None:
    """The valid keys under `path`, or None where `path` is a value with no keys of its own."""
    dotted = ".".join(path)
    if not path:
        return list(TOP_LEVEL)
    if dotted in NAMED_SECTIONS:
        # The keys depend on the section's current name (the default's if it has none).
        section: Any = raw
        for part in path:
            section = section.get(part) if isinstance(section, dict) else None
        _, default = NAMED_SECTIONS[dotted]
        name = section.get("name", default) if isinstance(section, dict) else default
        cls = _named_class(dotted, name) or _named_class(dotted, default)
        return ["name", *_field_names(cls)]
    cls = SECTION_CLASSES.get(dotted)
    return None if cls is None else _field_names(cls)


def _set_text(override: str) -> str:
    """'--set KEY=VALUE' as typed, quoted if it holds a newline or another unprintable character."""
    return f"--set {override if override.isprintable() else repr(override)}"


def apply_override(raw: dict, override: str) -> dict:
    """A copy of `raw` with one `dotted.key=value` set (the value is parsed as YAML).

    The key must exist in the schema; the sections on its way are created where absent or null.
    Setting a named section's `name` (`train.optimizer.name=adam`) leaves out the keys the new
    choice does not take (SGD's momentum), so that switching takes one `--set`.
    """
    return _overridden(raw, override)[0]


def _overridden(raw: dict, override: str) -> tuple[dict, list[str]]:
    """apply_override's result, and the dotted keys it left out by switching a section's name."""
    where = _set_text(override)
    key, sep, text = override.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(f"{where}: expected KEY=VALUE with a dotted key, e.g. train.epochs=5")
    value = _parsed(text, where, invalid="the value is not valid YAML")
    result = copy.deepcopy(raw)
    node = result
    for depth, part in enumerate(parts):
        shown = ".".join(parts[: depth + 1])
        valid = _schema_keys(parts[:depth], result)
        if valid is None or part not in valid:
            hint = f"valid: {', '.join(sorted(valid))}" if valid else "it has no sub-keys"
            raise ConfigError(f"{where}: {shown}: unknown key ({hint})")
        if depth == len(parts) - 1:
            node[part] = value
            section = ".".join(parts[:depth])
            if part == "name" and section in NAMED_SECTIONS:
                return result, _switched(node, section, value)
            break
        child = node.get(part)
        if child is None:  # absent, or null as in a saved run's `early_stopping: null`
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(
                f"{where}: {shown}: is {_shown(child)}, not a mapping to set {parts[depth + 1]} in"
            )
        node = child
    return result, []


def _switched(node: dict, section: str, name: object) -> list[str]:
    """Leave out of `node` the keys that the choice `name` of `section` does not take."""
    cls = _named_class(section, name)
    if cls is None:  # an unknown name: validation reports it, listing the known ones
        return []
    dropped = [key for key in node if key != "name" and key not in _field_names(cls)]
    for key in dropped:
        del node[key]
    return [f"{section}.{key}" for key in dropped]


def _scope(override: str) -> str:
    """The dotted key an override answers for: its own, or the section whose `name` it sets."""
    key = override.partition("=")[0].strip()
    section, _, last = key.rpartition(".")
    return section if last == "name" and section in NAMED_SECTIONS else key


# -- entry points --------------------------------------------------------------------------------


def parse_config(raw: object, overrides: Sequence[str] = (), source: str = "<config>") -> Config:
    """Validate an already-loaded YAML object (with `--set` overrides applied) into a Config.

    A bad value that an override put there is reported against that `--set`, not the file.
    With overrides, an empty file (None) counts as an empty mapping: `--set` may supply it all.
    """
    if not overrides:
        return _validate(raw, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _validate(raw, source)  # raises the top-level error
    notes = []
    problems = _Problems()  # an unknown key in one --set hides no mistake in another
    applied = []
    for override in overrides:
        result = problems.attempt(_overridden, raw, override)
        if result is None:
            continue
        raw, dropped = result
        applied.append(override)
        if dropped:
            notes.append(f"{_set_text(override)} left out {', '.join(dropped)} (not taken by it)")
    try:
        config = _validate(raw, source)
    except ConfigError as err:
        problems.found += [_blamed(one, applied) for one in err.errors]
    problems.raise_any()
    return dataclasses.replace(config, notes=(*notes, *config.notes))


def _blamed(err: ConfigError, overrides: Sequence[str]) -> ConfigError:
    """`err` told against the `--set` that put the bad value there, if one did."""
    for override in reversed(overrides):  # the last override of a key is the one in effect
        scope = _scope(override)
        if err.key is not None and (err.key == scope or err.key.startswith(scope + ".")):
            return ConfigError(
                f"{_set_text(override)}: {err.key}: {err.detail}", err.key, err.detail
            )
    return err


# The keys that hold paths. A path written in a config file is relative to that file's folder,
# one given with --set to the working directory; either way the run stores it absolute.
PATH_KEYS = (("data", "dataset"), ("model", "init_from"))


def absolute_path(value: Any, base: Path) -> Any:
    """`value` as an absolute path against `base` if it is a relative path (not a bundled
    dataset's name, not null)."""
    if not isinstance(value, str) or not value or value in DATASETS:
        return value
    path = Path(value).expanduser()
    return value if path.is_absolute() else os.path.normpath(base / path)


def is_path(section: str, key: str, value: Any) -> bool:
    """Whether a config value is a path: a table dataset, or any `model.init_from`. Anything
    else is left as written, so that its error message shows it as the user wrote it."""
    if not isinstance(value, str):
        return False
    return key != "dataset" or is_table_path(value)


def _file_paths_resolved(raw: object, base: Path) -> object:
    """A copy of the file's mapping with its relative paths made absolute against `base`."""
    if not isinstance(raw, dict):
        return raw
    raw = copy.deepcopy(raw)
    for section, key in PATH_KEYS:
        if isinstance(raw.get(section), dict) and is_path(section, key, raw[section].get(key)):
            raw[section][key] = absolute_path(raw[section][key], base)
    return raw


def _with_absolute_paths(config: Config, base: Path) -> Config:
    dataset = config.data.dataset
    if is_path("data", "dataset", dataset):
        dataset = absolute_path(dataset, base)
    data = dataclasses.replace(config.data, dataset=dataset)
    init_from = absolute_path(config.model.init_from, base)
    model = dataclasses.replace(config.model, init_from=init_from)
    return dataclasses.replace(config, data=data, model=model)


def table_settings(config: Config) -> TableSettings:
    """The `data` keys that say how a table is read and what its columns are."""
    data = config.data
    return TableSettings(
        task=config.task,
        target=list(data.target) if isinstance(data.target, tuple) else data.target,
        drop=data.drop,
        id=data.id,
        categorical=data.categorical,
        missing=data.missing,
        delimiter=data.delimiter,
        header=data.header,
        decimal=data.decimal,
        max_categories=data.max_categories,
    )


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config file; every path in it made absolute (relative
    to the file's folder when written in the file, to the working directory when --set)."""
    path = Path(path)
    raw = _file_paths_resolved(read_yaml(path), path.absolute().parent)
    config = parse_config(raw, overrides, source=str(path))
    return _with_absolute_paths(config, Path.cwd())


def loads_config(text: str, overrides: Sequence[str] = (), source: str = "<config>") -> Config:
    """Validate a config given as YAML text (a run's saved config.yaml)."""
    config = parse_config(_parsed(text, source), overrides, source=source)
    return _with_absolute_paths(config, Path.cwd())


def config_to_dict(config: Config) -> dict:
    """The resolved config as plain data: every default filled in, in schema order."""
    raw = dataclasses.asdict(config)
    del raw["notes"]
    raw = {"seed": raw.pop("seed"), "task": raw.pop("task"), **raw}  # in the README's order
    if isinstance(config.data.target, tuple):
        raw["data"]["target"] = list(config.data.target)
    raw["model"]["hidden"] = list(config.model.hidden)
    raw["data"]["drop"] = list(config.data.drop)
    if not isinstance(config.data.categorical, str):
        raw["data"]["categorical"] = list(config.data.categorical)
    for key in ("optimizer", "lr_schedule"):
        section = getattr(config.train, key)
        raw["train"][key] = {"name": section.name, **dataclasses.asdict(section)}
    return raw


def dump_config(config: Config) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
