"""Neural networks built on chainrule's `autograd` engine.

Everything here is made of `autograd.Value` operations, so every gradient can be drawn
and checked: modules (`Neuron`, `Layer`, `MLP`), losses, optimizers, toy datasets, the
`fit` loop, and checkpoints in PyTorch's ``nn.Linear`` layout.
"""

from . import data, losses, optim
from .data import circles, minibatches, moons, spiral, standardize, train_val_split, xor
from .losses import bce_with_logits, half_sse, hinge, l2_penalty, mse, softmax_cross_entropy
from .module import MLP, Layer, Module, Neuron
from .optim import SGD, Adam, LinearDecay, StepDecay
from .serialize import SerializationError, load_model
from .train import FitInterrupted, History, evaluate, fit, predict

__all__ = [
    "Module", "Neuron", "Layer", "MLP",
    "mse", "half_sse", "hinge", "bce_with_logits", "softmax_cross_entropy", "l2_penalty",
    "SGD", "Adam", "LinearDecay", "StepDecay",
    "moons", "circles", "xor", "spiral", "train_val_split", "standardize", "minibatches",
    "fit", "History", "FitInterrupted", "predict", "evaluate", "load_model",
    "SerializationError",
    "data", "losses", "optim",
]
