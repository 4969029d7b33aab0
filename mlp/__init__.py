"""mlp: multilayer perceptrons from scratch in NumPy.

The core imports nothing but NumPy, prints nothing and touches no files except checkpoints.

    import numpy as np
    from mlp import MLP, SGD, train, evaluate

    rng = np.random.default_rng(0)
    model = MLP([64, 128, 10], rng)
    for report in train(model, SGD(lr=0.1, momentum=0.9), X, y, epochs=20, batch_size=32, rng=rng):
        print(report.epoch, report.train_loss)
    print(evaluate(model, X_test, y_test).accuracy)
"""

from mlp.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from mlp.early_stopping import EarlyStopping
from mlp.evaluation import (
    Evaluation,
    RegressionEvaluation,
    evaluate,
    predict,
    predict_proba,
    regression_errors,
)
from mlp.functions import (
    ACTIVATIONS,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    sigmoid,
    softmax,
)
from mlp.gradcheck import ArrayCheck, gradient_check
from mlp.heads import HEADS, Head
from mlp.hyperparams import HyperparameterError, Param
from mlp.network import DTYPES, MLP
from mlp.optimizers import LBFGS, OPTIMIZERS, SGD, Adam, AdamW, Optimizer, RMSprop, make_optimizer
from mlp.schedules import SCHEDULES, make_schedule
from mlp.training import EpochReport, Trainer, TrainingDiverged, TrainingStopped, fit, train

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "HEADS",
    "LBFGS",
    "MLP",
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "AdamW",
    "ArrayCheck",
    "Checkpoint",
    "CheckpointError",
    "EarlyStopping",
    "EpochReport",
    "Evaluation",
    "Head",
    "HyperparameterError",
    "Optimizer",
    "Param",
    "RMSprop",
    "RegressionEvaluation",
    "Trainer",
    "TrainingDiverged",
    "TrainingStopped",
    "cross_entropy",
    "cross_entropy_grad",
    "evaluate",
    "fit",
    "gradient_check",
    "load_checkpoint",
    "load_weights",
    "log_softmax",
    "make_optimizer",
    "make_schedule",
    "predict",
    "predict_proba",
    "regression_errors",
    "save_checkpoint",
    "sigmoid",
    "softmax",
    "train",
]
