"""From a validated config to the core's objects: prepared data, a network and an optimizer.

train, eval and gradcheck all go through here, so a run's data split and preprocessing are
rebuilt identically from its saved config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from cli.config import Config, ConfigError
from data import DataError, Dataset, fit_standardizer, load_dataset, split_indices, standardize
from mlp import MLP, CheckpointError, load_weights, make_optimizer
from mlp.optimizers import Optimizer

SPLITS = ("train", "val", "test")

Part = tuple[np.ndarray, np.ndarray]  # (X, y)


@dataclass(frozen=True)
class PreparedData:
    """A dataset split as the config asks, standardised with the training part's statistics."""

    dataset: Dataset
    parts: dict[str, Part]  # "train", and "val" / "test" where the config has them
    mean: np.ndarray | None
    scale: np.ndarray | None
    indices: dict[str, np.ndarray]  # the dataset's row numbers in each of `parts`, ascending

    def part(self, name: str) -> Part | None:
        """(X, y) of one split, or None when the config leaves it out."""
        return self.parts.get(name)


def _split(config: Config) -> tuple[Dataset, dict[str, np.ndarray]]:
    """The config's dataset and the row numbers of each part it asks for (stratified, seeded)."""
    dataset = load_dataset(config.data.dataset, target=config.data.target)
    rng = np.random.default_rng(config.seed)
    try:
        split = split_indices(
            dataset.y, test_size=config.data.test_size, val_size=config.data.val_size, rng=rng
        )
    except DataError as err:
        raise DataError(f"{dataset.name}: {err}") from None
    return dataset, split.parts()


def _take(dataset: Dataset, indices: dict[str, np.ndarray]) -> dict[str, Part]:
    return {name: (dataset.X[rows], dataset.y[rows]) for name, rows in indices.items()}


def load_split(config: Config) -> tuple[Dataset, dict[str, Part]]:
    """The config's dataset, split (stratified, seeded) into its parts, not yet standardised."""
    dataset, indices = _split(config)
    return dataset, _take(dataset, indices)


def prepare_data(config: Config) -> PreparedData:
    """Load and split the config's dataset, standardised with the training part's statistics."""
    dataset, indices = _split(config)
    parts = _take(dataset, indices)
    mean = scale = None
    if config.data.standardize:
        mean, scale = fit_standardizer(parts["train"][0])  # the training part's statistics only
        parts = {name: (standardize(X, mean, scale), y) for name, (X, y) in parts.items()}
    return PreparedData(dataset=dataset, parts=parts, mean=mean, scale=scale, indices=indices)


def layer_sizes(config: Config, dataset: Dataset) -> list[int]:
    """[d, h1, ..., hk, K]: the config's hidden sizes between the data's input and output sizes."""
    return [dataset.n_features, *config.model.hidden, dataset.n_classes]


def build_model(config: Config, dataset: Dataset, rng: np.random.Generator) -> MLP:
    """A freshly initialised network, or the one in `model.init_from` if the config names one.

    The fresh network is drawn from `rng` either way, so the shuffling that follows sees the
    same random stream whether or not the run starts from saved weights.
    """
    sizes = layer_sizes(config, dataset)
    model = MLP(sizes, rng, activation=config.model.activation, dtype=config.model.dtype)
    if config.model.init_from is None:
        return model
    try:
        start = load_weights(config.model.init_from, activation=config.model.activation)
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
