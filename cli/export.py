"""`mlp export`: a trained model as an ONNX graph that any ONNX runtime can serve.

The graph takes raw feature rows and does everything `mlp predict` does to them:

    input (float32, N x d) -> [fill missing cells] -> standardise -> layers -> softmax
        -> probabilities (float32, N x K), label (int64, N: index into the run's classes)

The arithmetic runs in float64 up to the network and in the model's own dtype inside it, as
`mlp predict` computes, so the only difference from its probabilities is the rounding of the
raw inputs to float32. Class and feature names travel in the graph's metadata_props.

One-hot encoded (categorical) columns are refused rather than exported: the graph would need
string inputs and ONNX-ML's encoders, a second input path to test for little gain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from cli.rundir import RunError
from data import Preprocessor
from mlp import Checkpoint

OPSET = 17
# mlp's activation name -> the ONNX operator that computes it
INSTALL_HINT = (
    "mlp export needs the onnx package: pip install 'mlp-trainer[onnx]' "
    "(in a clone of mlp: pip install '.[onnx]')"
)


class ExportError(RunError):
    """A model that cannot be exported as asked; one line saying why."""


@dataclass(frozen=True)
class InputScaling:
    """What the graph applies to a raw row before the network: (x - mean) / scale, with a
    missing cell (NaN) first replaced by `fill` where the run imputes."""

    mean: np.ndarray | None  # (d,) float64, or None: no standardisation
    scale: np.ndarray | None
    fill: np.ndarray | None  # (d,) float64, or None: NaN is not filled


def input_scaling(checkpoint: Checkpoint) -> InputScaling:
    """The raw-row preprocessing a checkpoint stores; ExportError for categorical columns."""
    if not checkpoint.preprocessing:
        return InputScaling(checkpoint.mean, checkpoint.scale, None)
    prep = Preprocessor.from_arrays(checkpoint.preprocessing)
    categorical = [name for name, flag in zip(prep.columns, prep.categorical) if flag]
    if categorical:
        shown = ", ".join(repr(name) for name in categorical)
        raise ExportError(
            f"the model one-hot encodes the categorical column(s) {shown}, which mlp export "
            "does not support; export a model trained on numeric columns only (e.g. with "
            "data.drop), or score with mlp predict"
        )
    fill = prep.mean if prep.missing == "impute" else None
    if not prep.standardize:
        return InputScaling(None, None, fill)
    return InputScaling(prep.mean, prep.scale, fill)


def feature_names(checkpoint: Checkpoint) -> list[str]:
    """The input columns in the order the graph expects them (x0, x1, ... when unnamed)."""
    if checkpoint.feature_names is not None:
        return list(checkpoint.feature_names)
    return [f"x{i}" for i in range(checkpoint.model.layer_sizes[0])]


def build_graph(checkpoint: Checkpoint):
    """The onnx.ModelProto of `checkpoint` (raises ImportError without the onnx package)."""
    from onnx import TensorProto, helper, numpy_helper

    model = checkpoint.model
    op = model.activation.onnx_op  # declared with the activation (mlp/functions.py)
    if not op:
        raise ExportError(f"activation {model.activation.name!r} declares no ONNX form")
    scaling = input_scaling(checkpoint)
    d, K = model.layer_sizes[0], model.layer_sizes[-1]
    net_type = TensorProto.DOUBLE if model.dtype == np.float64 else TensorProto.FLOAT
    nodes, constants = [], []

    def constant(name: str, array: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    # float64 for the preprocessing, as data/ computes it; then the network's dtype
    nodes.append(helper.make_node("Cast", ["input"], ["x"], to=TensorProto.DOUBLE))
    x = "x"
    if scaling.fill is not None:  # missing: impute: a NaN cell takes the training mean
        nodes.append(helper.make_node("IsNaN", [x], ["missing"]))
        fill = constant("fill", scaling.fill.astype(np.float64))
        nodes.append(helper.make_node("Where", ["missing", fill, x], ["filled"]))
        x = "filled"
    if scaling.mean is not None and scaling.scale is not None:
        mean = constant("mean", scaling.mean.astype(np.float64))
        scale = constant("scale", scaling.scale.astype(np.float64))
        nodes.append(helper.make_node("Sub", [x, mean], ["centred"]))
        nodes.append(helper.make_node("Div", ["centred", scale], ["standardised"]))
        x = "standardised"
    nodes.append(helper.make_node("Cast", [x], ["a0"], to=net_type))
    a = "a0"
    for layer, (W, b) in enumerate(zip(model.weights, model.biases), start=1):
        z = f"z{layer}"
        W_name, b_name = constant(f"W{layer}", W), constant(f"b{layer}", b)
        nodes.append(helper.make_node("Gemm", [a, W_name, b_name], [z]))  # a W + b
        if layer < model.n_layers:
            a = f"a{layer}"
            nodes.append(helper.make_node(op, [z], [a]))
        else:
            a = z  # the logits
    nodes.append(helper.make_node("Softmax", [a], ["p"], axis=-1))
    nodes.append(helper.make_node("Cast", ["p"], ["probabilities"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("ArgMax", [a], ["label"], axis=1, keepdims=0))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", d])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", K]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
        initializer=constants,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mlp-trainer"
    )
    onnx_model.ir_version = 8  # read by onnxruntime 1.14 and newer
    helper.set_model_props(
        onnx_model,
        {
            "classes": json.dumps(checkpoint.classes.tolist()),
            "feature_names": json.dumps(feature_names(checkpoint)),
            "activation": model.activation.name,
        },
    )
    from onnx import checker

    checker.check_model(onnx_model, full_check=True)
    return onnx_model
