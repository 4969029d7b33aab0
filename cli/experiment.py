"""From a validated config to the core's objects: prepared data, a network and an optimizer.

train, gradcheck and sweep build their runs through here. The split is drawn from the run's
one generator and recorded in the run, so eval reads it back instead of rebuilding it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from cli.config import Config, ConfigError, table_settings
from cli.resources import GIB, available_memory, check_fits_in_memory
from data import (
    DataError,
    Dataset,
    Preprocessor,
    fit_standardizer,
    load_dataset,
    split_indices,
    standardize,
)
from mlp import MLP, CheckpointError, load_weights, make_optimizer, predict
from mlp.heads import Head, head_for_task
from mlp.optimizers import Optimizer
from mlp.training import balanced_class_weights

Part = tuple[np.ndarray, np.ndarray]  # (X, y)


@dataclass(frozen=True)
class PreparedData:
    """A dataset cut into its parts, standardised with the training part's statistics."""

    dataset: Dataset
    split: dict[str, np.ndarray]  # the row indices of each part: "train", "val"/"test" if any
    parts: dict[str, Part]  # (X, y) of each part, encoded and standardised as the config asks
    mean: np.ndarray | None  # a bundled set's standardisation (None for a table)
    scale: np.ndarray | None
    preprocessor: Preprocessor | None = None  # a table's encoding, fitted on its training rows
    # a regression's target standardisation (data.standardize_target): the parts' y are
    # (y - target_mean) / target_scale, with the training part's statistics
    target_mean: np.ndarray | None = None
    target_scale: np.ndarray | None = None

    @property
    def head(self) -> Head:
        """The output head the data's task needs."""
        return head_for_task(self.dataset.task)

    def to_target_units(self, X: np.ndarray, model: MLP) -> np.ndarray:
        """A regression model's predictions for the (prepared) rows X, in the targets' units."""
        outputs = predict(model, X)
        if self.target_mean is None or self.target_scale is None:
            return outputs
        return outputs * self.target_scale + self.target_mean

    def part(self, name: str) -> Part | None:
        """(X, y) of one split, or None when the config leaves it out."""
        return self.parts.get(name)

    @property
    def n_inputs(self) -> int:
        """Columns of the model's input: the features after encoding."""
        return self.parts["train"][0].shape[1]

    @property
    def input_names(self) -> tuple[str, ...]:
        """The name of each input column (`island=Biscoe` for a one-hot column)."""
        if self.preprocessor is not None:
            return self.preprocessor.feature_names
        return self.dataset.feature_names


def load_data(config: Config) -> Dataset:
    """The config's dataset, loaded (a CSV file is read once and its bytes digested)."""
    return load_dataset(config.data.dataset, table_settings(config))


def split_error(dataset: Dataset, err: DataError) -> DataError:
    """A split's refusal told in the data's words: the file, and the class by its label
    (`class 'pos' (index 1)`) where data/ knows only its index."""
    text = re.sub(
        r"class index (\d+)",
        lambda m: f"class {dataset.classes[int(m.group(1))].item()!r} (index {m.group(1)})",
        str(err),
    )
    return DataError(f"{dataset.name}: {text}")


def draw_split(config: Config, dataset: Dataset, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Row indices of each part, drawn from the run's generator (its first draw): stratified
    by class for a classification, plain for a regression."""
    try:
        rows = split_indices(
            dataset.y,
            test_size=config.data.test_size,
            val_size=config.data.val_size,
            rng=rng,
            stratify=dataset.task == "classification",
        )
    except DataError as err:
        raise split_error(dataset, err) from None
    split = {"train": rows.train, "val": rows.val, "test": rows.test}
    return {name: r for name, r in split.items() if name == "train" or len(r)}


def prepare(dataset: Dataset, split: dict[str, np.ndarray], config: Config) -> PreparedData:
    """The parts that `split` names, encoded and standardised with what the training part
    alone teaches (a table's categories, fill values and scales; a bundled set's scales; a
    regression's target scale)."""
    check_task_settings(config, dataset)
    if dataset.table is not None:
        return _standardized_targets(_prepare_table(dataset, split, config), config)
    standardized = config.data.standardize
    parts = {name: (dataset.X[rows], dataset.y[rows]) for name, rows in split.items()}
    mean = scale = None
    if standardized:
        mean, scale = fit_standardizer(parts["train"][0])  # the training part's statistics only
        parts = {name: (standardize(X, mean, scale), y) for name, (X, y) in parts.items()}
    prepared = PreparedData(dataset=dataset, split=split, parts=parts, mean=mean, scale=scale)
    return _standardized_targets(prepared, config)


def _standardized_targets(data: PreparedData, config: Config) -> PreparedData:
    """A regression's parts with targets (y - mean) / std of the training part (the inputs'
    rule: a constant target keeps scale 1), when data.standardize_target asks for it."""
    if data.dataset.task != "regression" or not config.data.standardize_target:
        return data
    mean, scale = fit_standardizer(data.parts["train"][1])
    parts = {name: (X, (y - mean) / scale) for name, (X, y) in data.parts.items()}
    return dataclasses.replace(data, parts=parts, target_mean=mean, target_scale=scale)


def check_task_settings(config: Config, dataset: Dataset) -> None:
    """Refuse the settings that do not apply to the data's task, now that it is known:
    class weights for a regression, and early stopping on a figure the head does not give."""
    head = head_for_task(dataset.task)
    if dataset.task == "regression" and config.train.class_weight != "none":
        detail = "weighs classes, and this run is a regression (set it to none, or task)"
        raise ConfigError(f"train.class_weight: {detail}", key="train.class_weight", detail=detail)
    stopping = config.train.early_stopping
    monitors = ("val_loss", *(f"val_{name}" for name in head.val_scores))
    if stopping is not None and stopping.monitor not in monitors:
        detail = (
            f"{stopping.monitor} is not reported for a {dataset.task}; "
            f"choose one of {', '.join(monitors)}"
        )
        key = "train.early_stopping.monitor"
        raise ConfigError(f"{key}: {detail}", key=key, detail=detail)


def _prepare_table(dataset: Dataset, split: dict[str, np.ndarray], config: Config) -> PreparedData:
    table, roles = dataset.table, dataset.roles
    assert table is not None and roles is not None
    preprocessor = Preprocessor.fit(
        table.take(split["train"]),
        roles.features,
        categorical=config.data.categorical,
        missing=config.data.missing,
        standardize=config.data.standardize,
        max_categories=config.data.max_categories,
    )
    check_encoding_fits(preprocessor, table.n_rows)  # before the one-hot matrix is allocated
    parts = {
        name: (preprocessor.transform(table.take(rows)), dataset.y[rows])
        for name, rows in split.items()
    }
    return PreparedData(dataset, split, parts, None, None, preprocessor)


def check_encoding_fits(preprocessor: Preprocessor, n_rows: int) -> None:
    """Refuse, in one line, an encoded table too big for free memory: a column of a million
    categories under a large data.max_categories would otherwise ask for terabytes."""
    available = available_memory()
    # the matrix is built transposed, then copied to rows: two float64 copies at once
    needed = 2 * 8 * preprocessor.n_features * n_rows
    if available is None or needed <= available:
        return
    widest = max(
        range(len(preprocessor.categories)),
        key=preprocessor.one_hot_width,
        default=None,
    )
    names = [n for n, c in zip(preprocessor.columns, preprocessor.categorical) if c]
    culprit = f"; column {names[widest]!r} has the most" if widest is not None else ""
    detail = (
        f"{n_rows} rows x {preprocessor.n_features} encoded columns need about "
        f"{needed / GIB:.1f} GiB; {available / GIB:.1f} GiB is available{culprit} "
        "(lower data.max_categories, or leave columns out with data.drop)"
    )
    raise ConfigError(f"data.max_categories: {detail}", key="data.max_categories", detail=detail)


def class_weights(config: Config, classes: np.ndarray, y_train: np.ndarray) -> np.ndarray | None:
    """Each class's weight as `train.class_weight` asks (None: unweighted). A mapping names
    classes by their labels; a class it leaves out weighs 1, and a label no class has is
    refused."""
    setting = config.train.class_weight
    if setting == "none":
        return None
    if setting == "balanced":
        return balanced_class_weights(y_train, len(classes))
    labels = [str(label) for label in classes.tolist()]
    weights = np.ones(len(classes))
    for label, weight in setting.items():
        if label not in labels:
            shown = ", ".join(labels[:10])
            detail = f"no class is labelled {label!r} (classes: {shown})"
            raise ConfigError(
                f"train.class_weight: {detail}", key="train.class_weight", detail=detail
            )
        weights[labels.index(label)] = weight
    return weights


def sample_weights(config: Config, data: PreparedData) -> np.ndarray | None:
    """The weight of each training row: its class's (None when the run is unweighted)."""
    y_train = data.parts["train"][1]
    weights = class_weights(config, data.dataset.classes, y_train)
    return None if weights is None else weights[y_train]


def prepare_data(config: Config, rng: np.random.Generator) -> PreparedData:
    """Load the config's dataset and cut it into parts with `rng` (its first draws)."""
    dataset = load_data(config)
    return prepare(dataset, draw_split(config, dataset, rng), config)


def layer_sizes(config: Config, data: PreparedData) -> list[int]:
    """[d, h1, ..., hk, K]: the config's hidden sizes between the data's input and output sizes."""
    return [data.n_inputs, *config.model.hidden, data.dataset.n_classes]


def build_model(config: Config, data: PreparedData, rng: np.random.Generator) -> MLP:
    """A freshly initialised network, or the one in `model.init_from` if the config names one.

    The fresh network is drawn from `rng` either way, so the shuffling that follows sees the
    same random stream whether or not the run starts from saved weights.
    """
    sizes = layer_sizes(config, data)
    check_fits_in_memory(config, sizes, data.dataset.n_samples)  # before allocating anything
    activation, head = config.model.activation, data.head.name
    model = MLP(sizes, rng, activation=activation, head=head, dtype=config.model.dtype)
    if config.model.init_from is None:
        return model
    try:
        start = load_weights(config.model.init_from, activation=activation, head=head)
    except CheckpointError as err:
        raise ConfigError(f"model.init_from: {err}") from None
    if list(start.layer_sizes) != sizes:
        raise ConfigError(
            f"model.init_from: {config.model.init_from} holds a "
            f"{architecture(start.layer_sizes)} network, but the config and data describe "
            f"{architecture(sizes)}"
        )
    return start.copy(config.model.dtype)


def build_optimizer(config: Config) -> Optimizer:
    """The optimizer the config names, with its hyperparameters."""
    settings = config.train.optimizer
    return make_optimizer(settings.name, **asdict(settings))


def architecture(sizes: Sequence[int]) -> str:
    """'64 -> 128 -> 10'."""
    return " -> ".join(str(s) for s in sizes)
