"""Reading .npz files without trusting them (mlp/npz.py through the checkpoint loaders)."""

import warnings
import zipfile

import numpy as np
import pytest

import mlp.npz
from mlp import MLP, Checkpoint, CheckpointError, load_checkpoint, load_weights
from mlp.checkpoint import (
    TrainingState,
    checkpoint_arrays,
    load_training_state,
    save_training_state,
)


def arrays_of_a_checkpoint():
    model = MLP([4, 5, 3], np.random.default_rng(0))
    return checkpoint_arrays(Checkpoint(model, np.array(["a", "b", "c"])))


def test_shapes_are_checked_against_layer_sizes_before_the_arrays_are_read(tmp_path, monkeypatch):
    arrays = arrays_of_a_checkpoint()
    arrays["classes"] = np.array(list("abcdefgh"))  # 8 labels for 3 output units
    np.savez(tmp_path / "model.npz", **arrays)
    read, real_read = [], mlp.npz.Archive.read
    monkeypatch.setattr(
        mlp.npz.Archive, "read", lambda self, name: read.append(name) or real_read(self, name)
    )
    with pytest.raises(CheckpointError, match="classes must list 3 labels"):
        load_checkpoint(tmp_path / "model.npz")
    assert set(read) <= {"format_version", "layer_sizes"}  # no weights, no classes


def test_weights_of_the_other_byte_order_and_fortran_order_load_as_numpy_reads_them(tmp_path):
    rng = np.random.default_rng(1)
    W1 = np.asfortranarray(rng.normal(size=(3, 4)))
    arrays = {"W1": W1, "b1": rng.normal(size=4).astype(">f8"), "W2": rng.normal(size=(4, 2))}
    arrays["b2"] = np.zeros(2)
    np.savez(tmp_path / "w.npz", **arrays)
    model = load_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as npz:  # numpy's own reader as the reference
        assert np.array_equal(model.weights[0], npz["W1"])
        assert np.array_equal(model.biases[0], npz["b1"])


def test_zeros_that_inflate_past_the_bound_are_refused_and_real_weights_compressed_are_not(
    tmp_path,
):
    rng = np.random.default_rng(2)
    real = {"W1": rng.normal(size=(300, 400)), "b1": np.zeros(400)}
    real |= {"W2": rng.normal(size=(400, 3)), "b2": np.zeros(3)}
    np.savez_compressed(tmp_path / "real.npz", **real)  # 1 MB of weights, barely compressible
    assert load_weights(tmp_path / "real.npz").layer_sizes == (300, 400, 3)
    bomb = {"W1": np.zeros((1024, 256)), "b1": np.zeros(256)}  # 2 MiB of zeros in ~2 KB
    bomb |= {"W2": np.zeros((256, 3)), "b2": np.zeros(3)}
    np.savez_compressed(tmp_path / "bomb.npz", **bomb)
    with pytest.raises(CheckpointError, match="more than 20 times its size; refused as a zip bomb"):
        load_weights(tmp_path / "bomb.npz")


def test_a_member_twice_or_with_a_bad_crc_is_refused_naming_it(tmp_path):
    arrays = arrays_of_a_checkpoint()
    np.savez(tmp_path / "model.npz", **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(tmp_path / "model.npz", "a") as archive:
            archive.writestr("W1.npy", b"second")
    with pytest.raises(CheckpointError, match=r"member W1\.npy: appears twice"):
        load_checkpoint(tmp_path / "model.npz")
    rng = np.random.default_rng(3)
    big = {"W1": rng.normal(size=(300, 400)), "b1": np.zeros(400)}
    np.savez(tmp_path / "flipped.npz", **big)
    data = bytearray((tmp_path / "flipped.npz").read_bytes())
    data[data.index(big["W1"].tobytes()) + 500_000] ^= 1  # stored as is: flip a bit of W1
    (tmp_path / "flipped.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"member W1\.npy: damaged \(Bad CRC-32"):
        load_weights(tmp_path / "flipped.npz")


def test_training_state_arrays_must_fit_the_parameter_count(tmp_path):
    params = np.arange(6.0)
    state = TrainingState(
        params,
        {"lr": np.asarray(0.1), "velocity": np.zeros(6)},
        {"order": None, "epochs_done": 1},
        {"status": "interrupted"},
    )
    save_training_state(tmp_path / "resume.npz", state)
    assert np.array_equal(load_training_state(tmp_path / "resume.npz").params, params)
    with np.load(tmp_path / "resume.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    for name, value, message in [
        (
            "optimizer.velocity",
            np.zeros(7),
            r"velocity: shape \(7,\) of float64 does not fit the 6",
        ),
        ("best_params", np.zeros(5), r"best_params: shape \(5,\) of float64 does not fit the 6"),
        ("notes", np.zeros(1), "notes: not part of a training state"),
    ]:
        np.savez(tmp_path / "bad.npz", **(arrays | {name: value}))
        with pytest.raises(CheckpointError, match=message) as info:
            load_training_state(tmp_path / "bad.npz")
        assert str(info.value).startswith(f"{tmp_path / 'bad.npz'}: member {name}: ")


def test_an_array_this_machine_cannot_allocate_is_one_line_naming_the_member(tmp_path, monkeypatch):
    np.savez(tmp_path / "w.npz", W1=np.ones((2, 3)), b1=np.zeros(3))

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(mlp.npz.np, "empty", no_memory)
    with pytest.raises(CheckpointError, match=r"member W1\.npy: 48 bytes do not fit in memory"):
        load_weights(tmp_path / "w.npz")
