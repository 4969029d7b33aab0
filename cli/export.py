"""`mlp export`: a trained model as an ONNX graph that any ONNX runtime can serve.

The graph takes raw feature rows and does everything `mlp predict` does to them:

    input (float32, N x d) -> [fill missing cells] -> standardise -> layers -> softmax
        -> probabilities (float32, N x K), label (int64, N: index into the run's classes)

or, for a regression (the identity head), layers -> z_L * target_scale + target_mean
        -> prediction (float32, N x T: each target in its own units)

A run with one-hot (categorical) columns takes one input per source column instead, named
after the column, as skl2onnx does: float32 N x 1 for a numeric column, string N x 1 for a
categorical one (text, or numbers named in data.categorical, written as mlp shows them: `3`,
not `3.0`). A categorical cell is mapped to its one-hot column by ONNX-ML's LabelEncoder (an
infrequent category to the "other" column, a missing marker such as "" or "NA" to the stored
most frequent category, an unseen category to -1), then compared with 0..width-1 (Equal), so
an unseen category encodes as zeros. A missing number is NaN and takes the stored mean.

The arithmetic runs in float64 up to the network and in the model's own dtype inside it, as
`mlp predict` computes, so the only difference from its probabilities is the rounding of the
raw inputs to float32. Class and feature names travel in the graph's metadata_props.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from cli.rundir import RunError
from data import Preprocessor
from data.encoding import one_hot_lookup
from mlp import Checkpoint

OPSET = 17
# ONNX-ML, for LabelEncoder (string -> int64), which onnxruntime runs at this version
ML_DOMAIN, ML_OPSET = "ai.onnx.ml", 3
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


def one_hot_preprocessor(checkpoint: Checkpoint) -> Preprocessor | None:
    """The run's Preprocessor when it one-hot encodes a column (the graph then takes one
    input per source column), else None (a single `input`)."""
    if not checkpoint.preprocessing:
        return None
    prep = Preprocessor.from_arrays(checkpoint.preprocessing)
    return prep if any(prep.categorical) else None


def input_scaling(checkpoint: Checkpoint) -> InputScaling:
    """The raw-row preprocessing of a checkpoint without one-hot columns."""
    if not checkpoint.preprocessing:
        return InputScaling(checkpoint.mean, checkpoint.scale, None)
    prep = Preprocessor.from_arrays(checkpoint.preprocessing)
    fill = prep.mean if prep.missing == "impute" else None
    if not prep.standardize:
        return InputScaling(None, None, fill)
    return InputScaling(prep.mean, prep.scale, fill)


def graph_inputs(checkpoint: Checkpoint) -> list[dict[str, str]]:
    """The graph's inputs: [{"name": "input", "type": "float32", "shape": "N x d"}], or one
    per source column of a run with one-hot columns (string or float32, N x 1)."""
    prep = one_hot_preprocessor(checkpoint)
    if prep is None:
        d = checkpoint.model.layer_sizes[0]
        return [{"name": "input", "type": "float32", "shape": f"N x {d}"}]
    return [
        {"name": name, "type": "string" if flag else "float32", "shape": "N x 1"}
        for name, flag in zip(prep.columns, prep.categorical)
    ]


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
    d = model.layer_sizes[0]
    net_type = TensorProto.DOUBLE if model.dtype == np.float64 else TensorProto.FLOAT
    nodes, constants = [], []

    def constant(name: str, array: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    prep = one_hot_preprocessor(checkpoint)
    if prep is None:
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", d])]
        x = _scaled_input(nodes, constant, input_scaling(checkpoint))
        outside = {"input": "input"}
    else:
        inputs, x = _column_inputs(nodes, constant, prep)
        outside = {_placeholder(k): name for k, name in enumerate(prep.columns)}
    nodes.append(helper.make_node("Cast", [x], ["a0"], to=net_type))
    a = _layers(nodes, constant, model, op)  # the logits
    outputs = _head_outputs(nodes, constant, checkpoint, a)
    graph = helper.make_graph(nodes, "mlp", inputs, outputs, initializer=constants)
    _namespaced(graph, outside)
    opsets = [helper.make_opsetid("", OPSET)]
    if prep is not None:
        opsets.append(helper.make_opsetid(ML_DOMAIN, ML_OPSET))
    onnx_model = helper.make_model(graph, opset_imports=opsets, producer_name="mlp-trainer")
    onnx_model.ir_version = 8  # read by onnxruntime 1.14 and newer
    helper.set_model_props(
        onnx_model,
        {
            "classes": json.dumps(checkpoint.classes.tolist()),
            "feature_names": json.dumps(feature_names(checkpoint)),
            "activation": model.activation.name,
            "head": model.head.name,
        },
    )
    from onnx import checker

    checker.check_model(onnx_model, full_check=True)
    return onnx_model


def _head_outputs(nodes: list, constant, checkpoint: Checkpoint, logits: str) -> list:
    """The head's nodes after the logits z_L, and the graph's outputs: a classifier's
    probabilities (its head's declared operator, Softmax) and label; a regression's
    `prediction` (float32, N x T) in the targets' own units, z_L * target_scale +
    target_mean computed in float64 as `mlp predict` does."""
    from onnx import TensorProto, helper

    model = checkpoint.model
    K = model.layer_sizes[-1]
    if model.head.targets == "values":
        y = "y"
        nodes.append(helper.make_node("Cast", [logits], [y], to=TensorProto.DOUBLE))
        if checkpoint.target_mean is not None and checkpoint.target_scale is not None:
            scale = constant("target_scale", np.asarray(checkpoint.target_scale, np.float64))
            mean = constant("target_mean", np.asarray(checkpoint.target_mean, np.float64))
            nodes.append(helper.make_node("Mul", [y, scale], ["y_scaled"]))
            nodes.append(helper.make_node("Add", ["y_scaled", mean], ["y_units"]))
            y = "y_units"
        nodes.append(helper.make_node("Cast", [y], ["prediction"], to=TensorProto.FLOAT))
        return [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["N", K])]
    op = model.head.onnx_op  # declared with the head (mlp/heads.py)
    nodes.append(helper.make_node(op, [logits], ["p"], axis=-1))
    nodes.append(helper.make_node("Cast", ["p"], ["probabilities"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("ArgMax", [logits], ["label"], axis=1, keepdims=0))
    return [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", K]),
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
    ]


def float32_warning(checkpoint: Checkpoint) -> str | None:
    """What to say when a regression's float32 `prediction` cannot resolve its target: the
    step between float32 numbers near the target's values, if above a thousandth of its
    standard deviation (a price of 1e12 give or take cents), else None."""
    if checkpoint.target_mean is None or checkpoint.target_scale is None:
        return None
    magnitude = float(np.max(np.abs(checkpoint.target_mean) + 3 * checkpoint.target_scale))
    step = float(np.spacing(np.float32(magnitude)))
    spread = float(np.min(checkpoint.target_scale))
    if step <= 1e-3 * spread:
        return None
    return (
        f"note: the graph's 'prediction' is float32, whose steps near {magnitude:.3g} are "
        f"{step:.3g}, {step / spread:.2g} times the target's standard deviation; its values "
        "are that coarse there (mlp predict computes in float64)"
    )


def _layers(nodes: list, constant, model, op: str) -> str:
    """z_l = a_{l-1} W_l + b_l as Gemm, then the activation `op` on every hidden layer, from
    the input `a0`; the name of the logits z_L."""
    from onnx import helper

    a = "a0"
    for layer, (W, b) in enumerate(zip(model.weights, model.biases), start=1):
        z = f"z{layer}"
        W_name, b_name = constant(f"W{layer}", W), constant(f"b{layer}", b)
        nodes.append(helper.make_node("Gemm", [a, W_name, b_name], [z]))  # a W + b
        if layer < model.n_layers:
            a = f"a{layer}"
            nodes.append(helper.make_node(op, [z], [a]))
        else:
            a = z
    return a


# The graph's own names (x, z1, W1, col3, ...) live under this prefix, so that no column of a
# user's file (an input named after it: `x`, `z1`, `label` as a feature) can collide with one.
INTERNAL = "mlp:"
OUTPUTS = ("probabilities", "label", "prediction")


def _placeholder(k: int) -> str:
    """Column k's input while the graph is built; `_namespaced` gives it the column's name."""
    return f"column:{k}"


def _namespaced(graph, outside: dict[str, str]) -> None:
    """Give the graph inputs their names (`outside`: built name -> shown name), keep the
    outputs', and put every other name under INTERNAL; a column named as an output, or under
    INTERNAL, is refused in one line."""
    for name in outside.values():
        if name in OUTPUTS or name.startswith(INTERNAL):
            raise ExportError(
                f"column {name!r} has a name the graph reserves ({', '.join(OUTPUTS)} or "
                f"{INTERNAL}...): rename the column in the file and train again"
            )

    def renamed(name: str) -> str:
        if name in outside:
            return outside[name]
        return name if name in OUTPUTS or not name else INTERNAL + name

    for node in graph.node:
        new_inputs = [renamed(n) for n in node.input]
        new_outputs = [renamed(n) for n in node.output]
        del node.input[:], node.output[:]
        node.input.extend(new_inputs)
        node.output.extend(new_outputs)
    for tensor in graph.initializer:
        tensor.name = renamed(tensor.name)
    for value in graph.input:
        value.name = renamed(value.name)


def _scaled_input(nodes: list, constant, scaling: InputScaling) -> str:
    """Nodes from the float32 `input` (N x d) to its filled, standardised float64 form."""
    from onnx import TensorProto, helper

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
    return x


def _column_inputs(nodes: list, constant, prep: Preprocessor) -> tuple[list, str]:
    """One graph input per source column and the nodes that encode each as the Preprocessor
    does, concatenated in its order: (the inputs, the name of the N x n_features matrix)."""
    from onnx import TensorProto, helper

    inputs, parts = [], []
    i_num = i_cat = 0
    for k, is_categorical in enumerate(prep.categorical):
        kind = TensorProto.STRING if is_categorical else TensorProto.FLOAT
        column = _placeholder(k)  # named after the column once the graph is built
        inputs.append(helper.make_tensor_value_info(column, kind, ["N", 1]))
        if is_categorical:
            parts.append(_one_hot_nodes(nodes, constant, prep, column, k, i_cat))
            i_cat += 1
        else:
            parts.append(_numeric_nodes(nodes, constant, prep, column, k, i_num))
            i_num += 1
    nodes.append(helper.make_node("Concat", parts, ["x"], axis=1))
    return inputs, "x"


def _numeric_nodes(nodes: list, constant, prep: Preprocessor, name: str, k: int, i: int) -> str:
    """float32 N x 1 -> float64, a NaN filled with the mean, then (x - mean) / scale."""
    from onnx import TensorProto, helper

    x = f"col{k}"
    nodes.append(helper.make_node("Cast", [name], [x], to=TensorProto.DOUBLE))
    mean = constant(f"mean{k}", np.array([prep.mean[i]], dtype=np.float64))
    if prep.missing == "impute":
        nodes.append(helper.make_node("IsNaN", [x], [f"missing{k}"]))
        nodes.append(helper.make_node("Where", [f"missing{k}", mean, x], [f"filled{k}"]))
        x = f"filled{k}"
    if prep.standardize:
        scale = constant(f"scale{k}", np.array([prep.scale[i]], dtype=np.float64))
        nodes.append(helper.make_node("Sub", [x, mean], [f"centred{k}"]))
        nodes.append(helper.make_node("Div", [f"centred{k}", scale], [f"standardised{k}"]))
        x = f"standardised{k}"
    return x


def _one_hot_nodes(nodes: list, constant, prep: Preprocessor, name: str, k: int, i: int) -> str:
    """string N x 1 -> the one-hot column of each cell (LabelEncoder) -> N x width 0/1."""
    from onnx import TensorProto, helper

    keys, values = one_hot_lookup(prep, i)
    index = f"index{k}"
    nodes.append(
        helper.make_node(
            "LabelEncoder",
            [name],
            [index],
            domain=ML_DOMAIN,
            keys_strings=keys,
            values_int64s=values,
            default_int64=-1,  # an unseen category: no column
        )
    )
    columns = constant(f"columns{k}", np.arange(prep.one_hot_width(i), dtype=np.int64))
    nodes.append(helper.make_node("Equal", [index, columns], [f"hot{k}"]))  # N x width
    nodes.append(helper.make_node("Cast", [f"hot{k}"], [f"onehot{k}"], to=TensorProto.DOUBLE))
    return f"onehot{k}"
