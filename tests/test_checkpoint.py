"""Checkpoints: the W1..WL / b1..bL contract, round trips, refusals and atomic saves."""

import os

import numpy as np
import pytest

from mlp import MLP, Checkpoint, CheckpointError, load_checkpoint, load_weights, save_checkpoint
from mlp.checkpoint import checkpoint_arrays


def make_checkpoint(dtype="float64", classes=("setosa", "versicolor", "virginica")):
    model = MLP([4, 5, 3], np.random.default_rng(0), dtype=dtype)
    return Checkpoint(model, np.array(classes), mean=np.arange(4.0), scale=np.full(4, 2.0))


def write_npz(path, **arrays):
    with open(path, "wb") as file:
        np.savez(file, **arrays)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_restores_every_array_exactly(tmp_path, dtype):
    original = make_checkpoint(dtype)
    save_checkpoint(tmp_path / "model.npz", original)
    loaded = load_checkpoint(tmp_path / "model.npz")
    assert loaded.model.layer_sizes == (4, 5, 3) and loaded.model.dtype == np.dtype(dtype)
    assert np.array_equal(loaded.model.params, original.model.params)
    assert loaded.classes.tolist() == ["setosa", "versicolor", "virginica"]
    assert np.array_equal(loaded.mean, original.mean) and np.array_equal(loaded.scale, [2.0] * 4)


def test_file_holds_plain_arrays_named_w1_b1_w2_b2_readable_by_numpy_alone(tmp_path):
    original = make_checkpoint()
    save_checkpoint(tmp_path / "model.npz", original)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        assert {"W1", "b1", "W2", "b2"} <= set(npz.files)
        assert npz["W1"].shape == (4, 5) and npz["b2"].shape == (3,)
        assert npz["layer_sizes"].tolist() == [4, 5, 3] and str(npz["activation"]) == "sigmoid"
        assert np.array_equal(npz["W2"], original.model.weights[1])


def test_weights_written_by_another_tool_load_by_their_names(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "W1": rng.normal(size=(3, 4)),
        "b1": np.zeros(4),
        "W2": rng.normal(size=(4, 2)),
        "b2": np.ones(2),
    }
    write_npz(tmp_path / "torch_export.npz", **arrays)
    model = load_weights(tmp_path / "torch_export.npz")
    assert model.layer_sizes == (3, 4, 2)
    assert np.array_equal(model.weights[0], arrays["W1"]) and np.array_equal(
        model.biases[1], [1, 1]
    )


def test_object_arrays_are_refused_and_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    arrays = checkpoint_arrays(make_checkpoint())
    arrays["classes"] = np.array([{"a": 1}, None, 3], dtype=object)
    write_npz(path, **arrays)
    with pytest.raises(CheckpointError, match="object arrays; refused"):
        load_checkpoint(path)


def test_a_pickle_file_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    np.save(path.with_suffix(".npy"), np.array([object()], dtype=object), allow_pickle=True)
    os.replace(path.with_suffix(".npy"), path)
    with pytest.raises(CheckpointError, match=r"model\.npz"):
        load_checkpoint(path)


def mutated(**changes):
    arrays = checkpoint_arrays(make_checkpoint())
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    return arrays


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(W2=np.zeros((6, 3))), "W2 has 6 inputs"),
        (dict(b1=np.zeros(4)), "do not fit"),
        (dict(b2=None), "b2 is missing"),
        (dict(W3=np.zeros((3, 3)), b3=np.zeros(3)), "contradicts"),
        (dict(layer_sizes=np.array([4, 6, 3])), "contradicts"),
        (dict(format_version=np.asarray(99)), "newer"),
        (dict(classes=np.array(["a", "b"])), "classes"),
        (dict(mean=np.zeros(5)), "mean"),
        (dict(scale=None), "together"),
        (dict(activation=np.asarray("swish")), "swish"),
        (dict(dtype=np.asarray("float32")), "declared dtype"),
        (dict(W1=np.full((4, 5), np.nan)), "NaN"),
        (dict(extra=np.zeros(1)), "unexpected"),
        (dict(activation=None), "activation"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_arrays_that_contradict_the_metadata_are_refused(tmp_path, changes, message):
    path = tmp_path / "model.npz"
    write_npz(path, **mutated(**changes))
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, make_checkpoint())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.npz"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "absent.npz")


def test_a_save_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_checkpoint(path, make_checkpoint())
    before = path.read_bytes()

    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    other = Checkpoint(MLP([4, 5, 3], np.random.default_rng(1)), np.array(["a", "b", "c"]))
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, other)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
