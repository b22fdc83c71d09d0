"""The fit loop: the two-moons demo, stopping rules, NaN handling, history and progress bar.
References are closed forms and NumPy computations written here."""

import gc
import io
import math

import numpy as np
import pytest

import autograd
import nn
from autograd import Value
from nn.reference import ReferenceNetwork


def numpy_mlp(state, X):
    """ReLU hidden layers, linear output, from the PyTorch-layout state dict."""
    a = np.asarray(X, dtype=np.float64).T
    n_layers = len(state) // 2
    for i in range(n_layers):
        a = state[f"layers.{i}.weight"] @ a + state[f"layers.{i}.bias"][:, None]
        if i < n_layers - 1:
            a = np.maximum(a, 0.0)
    return a.T


def test_two_moons_demo_reaches_full_training_accuracy():
    # micrograd's demo: MLP 2-16-16-1, 100 points, hinge loss + 1e-4 L2, SGD with the
    # learning rate 1.0 - 0.9 k / 100, 100 full-batch steps.  Seed 0 is the first tried.
    X, y = nn.moons(100, noise=0.1, seed=0, labels=(-1, 1))
    model = nn.MLP(2, [16, 16, 1], seed=0)
    optimizer = nn.SGD(model.parameters(), lr=nn.LinearDecay(1.0, 0.1, 100))
    history = nn.fit(model, X, y, loss="hinge", l2=1e-4, optimizer=optimizer, epochs=100,
                     verbose=False)
    assert history.stop_reason == "max_epochs" and history.epochs == 100
    assert history.lr[0] == 1.0 and history.lr[-1] == pytest.approx(1.0 - 0.9 * 99 / 100)
    # accuracy of the trained weights, computed in NumPy from the state dict
    scores = numpy_mlp(model.state_dict(), X)[:, 0]
    assert np.mean(np.sign(scores) == y) == 1.0
    assert max(history.accuracy) == 1.0
    assert history.loss[-1] < history.loss[0] / 10


def test_fit_follows_numpy_softmax_regression_step_by_step():
    # A linear layer with softmax cross-entropy trained by full-batch gradient descent:
    # loss = mean(logsumexp(W x + b) - (W x + b)_y), gradient (P - Y)^T X / n.
    X, y = nn.spiral(30, classes=3, noise=0.1, seed=2)
    layer = nn.Layer(2, 3, activation="linear", seed=1)
    W, b = layer.state_dict()["weight"], layer.state_dict()["bias"]
    history = nn.fit(layer, X, y, loss="cross_entropy", epochs=6,
                     optimizer=nn.SGD(layer.parameters(), lr=0.5), verbose=False)
    onehot = np.eye(3)[y]
    for epoch in range(6):
        z = X @ W.T + b
        z_shift = z - z.max(axis=1, keepdims=True)
        logp = z_shift - np.log(np.exp(z_shift).sum(axis=1, keepdims=True))
        assert history.loss[epoch] == pytest.approx(-np.mean(logp[np.arange(30), y]),
                                                    rel=1e-12)
        assert history.accuracy[epoch] == np.mean(np.argmax(z, axis=1) == y)
        delta = (np.exp(logp) - onehot) / 30
        W, b = W - 0.5 * delta.T @ X, b - 0.5 * delta.sum(axis=0)
    np.testing.assert_allclose(layer.state_dict()["weight"], W, rtol=1e-11)
    np.testing.assert_allclose(layer.state_dict()["bias"], b, rtol=1e-11, atol=1e-14)


def single_weight(w0):
    neuron = nn.Neuron(1, activation="linear", bias=False)
    neuron.w[0].data = w0
    return neuron


def test_target_loss_stops_at_the_first_epoch_below_it():
    # w_k = 2 + (2/3)^k, loss before step k = (5/3)(2/3)^(2k) (see the worked examples)
    neuron = single_weight(3.0)
    history = nn.fit(neuron, [[0.0], [1.0], [2.0]], [0.0, 2.0, 4.0], loss="mse",
                     optimizer=nn.SGD(neuron.parameters(), lr=0.1), epochs=1000,
                     target_loss=1e-6, verbose=False)
    first = next(k for k in range(1000) if 5 / 3 * (2 / 3) ** (2 * k) <= 1e-6)
    assert history.stop_reason == "target_loss" and history.epochs == first + 1


def test_early_stopping_restores_the_best_validation_weights():
    # Training pulls w from 3.5 towards 2 (w_k = 2 + 1.5 (2/3)^k); validation targets are
    # 3x, so the validation loss is lowest at w_1 = 3 and grows afterwards.
    neuron = single_weight(3.5)
    X, y = [[0.0], [1.0], [2.0]], [0.0, 2.0, 4.0]
    history = nn.fit(neuron, X, y, loss="mse", optimizer=nn.SGD(neuron.parameters(), lr=0.1),
                     epochs=50, validation=([[1.0], [2.0]], [3.0, 6.0]), patience=3,
                     verbose=False)
    assert history.stop_reason == "early_stopping"
    assert history.best_epoch == 1 and history.epochs == 4
    assert "did not improve for 3 epochs" in history.message
    assert neuron.w[0].data == pytest.approx(3.0, rel=1e-14)
    w = [2 + 1.5 * (2 / 3) ** k for k in range(1, 5)]
    assert history.val_loss == pytest.approx([((wk - 3) ** 2 * 5) / 2 for wk in w], rel=1e-10)


def test_a_diverging_run_stops_and_keeps_the_last_finite_weights():
    neuron = single_weight(3.0)
    X, y = [[0.0], [1.0], [2.0]], [0.0, 2.0, 4.0]
    with pytest.warns(RuntimeWarning, match="the weights that last gave a finite loss"):
        history = nn.fit(neuron, X, y, loss="mse", epochs=10000, verbose=False,
                         optimizer=nn.SGD(neuron.parameters(), lr=10.0))
    assert history.stop_reason == "non_finite" and history.epochs < 10000
    w = neuron.w[0].data
    assert math.isfinite(w)
    # these weights give a finite loss by the closed form (5/3)(w - 2)^2
    assert math.isfinite(5 / 3 * (w - 2) ** 2)
    assert history.loss and all(math.isfinite(v) for v in history.loss)


def test_a_nan_loss_stops_training_with_the_weights_of_that_batch_start():
    model = nn.MLP(2, [3, 1], seed=0)
    calls = []

    def flaky_mse(outputs, targets):
        calls.append(1)
        loss = nn.mse(outputs, targets)
        return loss * (float("nan") if len(calls) == 3 else 1.0)

    X, y = nn.moons(20, seed=1)
    saved = {}

    def remember(outputs, targets):
        saved[len(calls)] = [p.data for p in model.parameters()]
        return flaky_mse(outputs, targets)

    out = io.StringIO()
    with pytest.warns(RuntimeWarning, match="epoch 3, batch 1: the loss is nan"):
        history = nn.fit(model, X, y, loss=remember, epochs=5, file=out)
    assert history.stop_reason == "non_finite" and history.epochs == 2
    assert [p.data for p in model.parameters()] == saved[2]
    assert "the loss is nan" in history.message and history.message in out.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_and_history_dict():
    X, y = nn.xor(40, noise=0.1, seed=0, labels=(-1, 1))
    model = nn.MLP(2, [4, 1], seed=0)
    out = _Terminal()
    history = nn.fit(model, X, y, loss="hinge", epochs=3, batch_size=8, validation=0.25,
                     seed=0, file=out)
    text = out.getvalue()
    assert "epoch 1/3 [" in text and "4/4" in text  # 30 training rows in batches of 8
    assert text.count("val_loss") == 3 and "acc" in text
    assert history["epochs"] == 3 and len(history["val_accuracy"]) == 3
    assert set(history.as_dict()) >= {"loss", "accuracy", "val_loss", "val_accuracy",
                                      "stop_reason", "lr"}
    quiet = io.StringIO()
    nn.fit(model, X, y, loss="hinge", epochs=1, verbose=False, file=quiet)
    assert quiet.getvalue() == ""
    # Not a terminal (a log file, a pipe): no bar redrawn with carriage returns; a short
    # run gets one line per epoch.  The terminal keeps one line, updated in place: the
    # last epoch's, the same text as the log's last line (issue 13 item 8).
    log = io.StringIO()
    model = nn.MLP(2, [4, 1], seed=0)
    nn.fit(model, X, y, loss="hinge", epochs=3, batch_size=8, validation=0.25, seed=0,
           file=log)
    assert "\r" not in log.getvalue() and "[" not in log.getvalue()
    logged = log.getvalue().split("\n")
    assert len(logged) == 4 and logged[-1] == ""  # three epoch lines
    assert as_a_terminal_shows(text) == [logged[-2], ""]
    with pytest.raises(KeyError, match="History has no entry 'los'"):
        history["los"]


def as_a_terminal_shows(text: str) -> list[str]:
    """The lines a terminal leaves on screen: a carriage return goes back to the start of
    the line, and what follows is written over what was there."""
    shown = []
    for line in text.split("\n"):
        screen = ""
        for part in line.split("\r"):
            screen = part + screen[len(part):]
        shown.append(screen.rstrip())
    return shown


def test_the_epoch_line_covers_the_whole_bar_on_a_terminal():
    # With 100000 epochs the bar is longer than the epoch line and the 12 spaces that
    # once followed it: the last digits of the bar's loss stayed at the end of the line.
    X, y = nn.xor(40, noise=0.1, seed=0)
    runs = {}
    for name, out in (("terminal", _Terminal()), ("log", io.StringIO())):
        model = nn.MLP(2, [4, 1], seed=0)
        nn.fit(model, X, y, loss="bce", epochs=100000, batch_size=8, seed=0,
               target_loss=1e9, file=out)  # stops after the first epoch
        runs[name] = out.getvalue()
    assert "\r" in runs["terminal"] and "[####" in runs["terminal"]
    assert as_a_terminal_shows(runs["terminal"]) == runs["log"].split("\n")
    assert runs["log"].startswith("epoch      1/100000  loss ")


def test_predict_and_evaluate_record_no_graph():
    model = nn.MLP(2, [3, 1], seed=0)
    X, y = nn.moons(10, seed=0, labels=(-1, 1))
    out = nn.predict(model, X)
    np.testing.assert_allclose(out, numpy_mlp(model.state_dict(), X)[:, 0], rtol=1e-13)
    loss, acc = nn.evaluate(model, X, y, loss="hinge")
    assert loss == pytest.approx(np.mean(np.maximum(0, 1 - y * out)), rel=1e-13)
    assert acc == np.mean(np.sign(out) == y)
    with autograd.no_grad():
        assert model([0.0, 0.0]).is_leaf
    # No rows is said as such, as fit says it (it was an IndexError from inside predict).
    with pytest.raises(ValueError, match="^predict: X has no rows: there is nothing to "
                                         "predict$"):
        nn.predict(model, np.zeros((0, 2)))


def test_fit_rejects_bad_arguments_clearly():
    model = nn.MLP(2, [1])
    X, y = nn.moons(10, seed=0)
    with pytest.raises(ValueError, match="fit: X must be 2-D"):
        nn.fit(model, X[:, 0], y)
    with pytest.raises(ValueError, match="fit: X has 10 rows but y has 9 targets"):
        nn.fit(model, X, y[:9])
    with pytest.raises(ValueError, match="^fit: X has no rows: there is nothing to train on$"):
        nn.fit(model, np.zeros((0, 2)), [])
    with pytest.raises(ValueError, match=r"^fit: X must hold numbers only \(could not convert "
                                         r"string to float: 'a'\)$"):
        nn.fit(model, [["a", "b"]] * 10, y)
    with pytest.raises(ValueError, match="patience \\(early stopping\\) needs validation"):
        nn.fit(model, X, y, patience=3)
    with pytest.raises(TypeError, match="optimizer must be an nn.optim.Optimizer"):
        nn.fit(model, X, y, optimizer="adam")
    with pytest.raises(ValueError, match="fit: epochs must be an integer >= 1, got 0"):
        nn.fit(model, X, y, epochs=0)
    with pytest.raises(ValueError, match="fit: X holds NaN"):
        nn.fit(model, np.full((3, 2), np.nan), [0, 1, 0])
    with pytest.raises(ValueError, match="validation must be \\(X_val, y_val\\) with 2"):
        nn.fit(model, X, y, validation=(np.zeros((3, 3)), [0, 0, 0]))


def test_fit_keeps_no_batch_graph_alive_until_the_end_of_the_epoch():
    # The accuracy needs the outputs' numbers only; holding the output Values kept every
    # batch's graph (a dot node per neuron per example) alive for the whole epoch.
    model = nn.MLP(2, [3, 1], seed=0)  # 4 neurons: 4 dot nodes per example
    X, y = nn.moons(20, seed=0)
    biases = {id(p) for name, p in model.named_parameters() if name.endswith(".b")}
    live = []

    def accuracy(scores, targets):  # counts this model's dot nodes still alive
        live.append(sum(1 for o in gc.get_objects() if type(o) is Value and o.op == "dot"
                        and id(o.parents[-1]) in biases))
        return float(np.mean((scores > 0) == (targets > 0.5)))

    nn.fit(model, X, y, loss="bce", epochs=1, batch_size=1, accuracy=accuracy, verbose=False)
    assert live[0] <= 4  # the last batch's graph at most, not 20 of them


class _JumpAfter(nn.optim.Schedule):
    """lr(k) = small for k < jump, then huge: the step at k = jump overflows the weight."""

    def __init__(self, small, jump, huge):
        self.small, self.jump, self.huge = small, jump, huge

    def __call__(self, k):
        return self.small if k < self.jump else self.huge


@pytest.mark.parametrize("compiled", [False, True])
def test_a_step_that_would_make_a_weight_infinite_is_refused_at_that_step(compiled):
    # One weight, loss (5/3)(w - 2)^2 on these three points, gradient (10/3)(w - 2), so
    # w_k = 2 + (1 - lr 10/3)^k while lr = 0.01.  The step k = 3 uses lr = 1e308 and
    # lr * gradient overflows: the loss of w_3 is finite, so only the update says it.
    neuron = single_weight(3.0)
    optimizer = nn.SGD(neuron.parameters(), lr=_JumpAfter(0.01, 3, 1e308), momentum=0.0)
    out = io.StringIO()
    with pytest.warns(RuntimeWarning, match=r"fit: stopped in epoch 4, batch 1: step 4 "
                      r"\(learning rate 1e\+308\) would make w\.0 -inf; the weights that "
                      r"last gave a finite loss are kept"):
        history = nn.fit(neuron, [[0.0], [1.0], [2.0]], [0.0, 2.0, 4.0], loss="mse",
                         optimizer=optimizer, epochs=10, file=out, compiled=compiled)
    w3 = 2 + (1 - 0.01 * 10 / 3) ** 3
    with np.errstate(over="ignore"):
        assert np.isneginf(np.float64(w3) - 1e308 * (10 / 3) * (w3 - 2))  # the overflow is real
    assert neuron.w[0].data == pytest.approx(w3, rel=1e-14)
    assert history.stop_reason == "non_finite" and history.epochs == 3
    assert history.loss == pytest.approx([5 / 3 * (1 - 0.1 / 3) ** (2 * k) for k in range(3)],
                                         rel=1e-12)
    assert optimizer.steps == 3  # the refused step was not counted
    assert history.message in out.getvalue()


def test_with_one_epoch_an_overflowing_step_is_still_caught_and_nothing_is_changed():
    # The report of the issue: lr = 1e300 on large targets, one epoch.  The first step
    # would make every weight infinite; the weights, and the optimizer's velocity, stay.
    model = nn.MLP(1, [3, 1], seed=0)
    X, y = np.array([[1000.0], [2000.0]]), np.array([1e6, 2e6])
    before = [p.data for p in model.parameters()]
    optimizer = nn.SGD(model.parameters(), lr=1e300, momentum=0.5)
    with pytest.warns(RuntimeWarning, match="step 1 .* would make layers.0.neurons.0.w.0"):
        history = nn.fit(model, X, y, optimizer=optimizer, epochs=1, verbose=False)
    assert history.stop_reason == "non_finite" and history.epochs == 0
    assert [p.data for p in model.parameters()] == before
    assert optimizer.steps == 0 and optimizer.velocity == [0.0] * len(before)
    # NumPy says the step would indeed overflow: output layer's gradient times 1e300.
    state = model.state_dict()
    hidden = np.maximum(state["layers.0.weight"] @ X.T + state["layers.0.bias"][:, None], 0)
    error = (state["layers.1.weight"] @ hidden + state["layers.1.bias"][:, None])[0] - y
    with np.errstate(over="ignore"):
        step = before[0] - 1e300 * np.mean(2 * error * state["layers.1.weight"][0, 0]
                                           * (hidden[0] > 0) * X[:, 0])
    assert not np.isfinite(step)


def test_a_long_run_shows_one_line_on_a_terminal_and_a_handful_in_a_log():
    X, y = nn.xor(40, noise=0.1, seed=0)
    runs = {}
    for name, out in (("terminal", _Terminal()), ("log", io.StringIO())):
        model = nn.MLP(2, [4, 1], seed=0)
        history = nn.fit(model, X, y, loss="bce", epochs=95, batch_size=8, seed=0, file=out)
        runs[name] = out.getvalue()
    assert history.epochs == 95
    shown = as_a_terminal_shows(runs["terminal"])
    assert len(shown) == 2 and shown[0].startswith("epoch 95/95  loss ") and shown[1] == ""
    assert runs["terminal"].count("\n") == 1  # every redraw stays on the one line
    logged = runs["log"].split("\n")[:-1]
    # The first epoch, every tenth of the run (95 / 10 -> every 10th) and the last.
    numbers = [int(line.split("/")[0].split()[-1]) for line in logged]
    assert numbers == [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert logged[-1] == shown[0]


def test_an_early_stop_still_logs_its_last_epoch():
    X, y = nn.xor(40, noise=0.1, seed=0)
    log = io.StringIO()
    history = nn.fit(nn.MLP(2, [4, 1], seed=0), X, y, loss="bce", epochs=1000,
                     batch_size=8, seed=0, target_loss=0.6, file=log)
    assert history.stop_reason == "target_loss" and history.epochs % 100 != 0
    last = log.getvalue().split("\n")[-2]
    assert last.startswith(f"epoch {history.epochs:>4}/1000  loss {history.loss[-1]:.4f}")


def test_an_optimizer_holding_none_of_the_models_parameters_is_refused():
    model, other = nn.MLP(2, [3, 1], seed=0), nn.MLP(2, [2, 1], seed=1)
    X, y = nn.moons(10, seed=0)
    before = [p.data for p in model.parameters()] + [p.data for p in other.parameters()]
    with pytest.raises(ValueError, match=r"^fit: the optimizer holds none of the model's 13 "
                       r"parameters \(it holds 9 others\), so training would change "
                       r"nothing; build it from model.parameters\(\)$"):
        nn.fit(model, X, y, optimizer=nn.SGD(other.parameters(), lr=0.1), verbose=False)
    assert [p.data for p in model.parameters()] + [p.data for p in other.parameters()] == before


def test_an_optimizer_holding_some_parameters_warns_and_trains_only_those():
    # Only the output layer is trained: with the hidden features H = relu(X W0^T + b0)
    # fixed, full-batch gradient descent on the mean squared error is linear regression,
    # w <- w - lr (2/n) H^T (H w + b - y), written here in NumPy.
    X, y = nn.moons(12, noise=0.1, seed=0)
    model = nn.MLP(2, [3, 1], seed=0)
    state = model.state_dict()
    optimizer = nn.SGD(model.layers[1].parameters(), lr=0.1)
    with pytest.warns(RuntimeWarning, match=r"^fit: the optimizer holds 4 of the model's 13 "
                      r"parameters; the other 9 \(layers.0.neurons.0.w.0, "
                      r"layers.0.neurons.0.w.1, layers.0.neurons.0.b, ...\) are not trained$"):
        nn.fit(model, X, y, loss="mse", optimizer=optimizer, epochs=5, verbose=False)
    H = np.maximum(X @ state["layers.0.weight"].T + state["layers.0.bias"], 0.0)
    w, b = state["layers.1.weight"][0], state["layers.1.bias"][0]
    for _ in range(5):
        error = H @ w + b - y
        w, b = w - 0.1 * 2 / len(y) * H.T @ error, b - 0.1 * 2 * np.mean(error)
    after = model.state_dict()
    np.testing.assert_array_equal(after["layers.0.weight"], state["layers.0.weight"])
    np.testing.assert_array_equal(after["layers.0.bias"], state["layers.0.bias"])
    np.testing.assert_allclose(after["layers.1.weight"][0], w, rtol=1e-12)
    assert after["layers.1.bias"][0] == pytest.approx(b, rel=1e-12)


def test_the_gradient_of_a_parameter_left_out_does_not_pile_up():
    # After 3 full-batch epochs a frozen first-layer weight holds the gradient of the
    # third batch only: the NumPy reference's gradient at the weights after 2 epochs.
    X, y = nn.moons(12, noise=0.1, seed=0)
    runs = {}
    for epochs in (2, 3):
        model = nn.MLP(2, [3, 1], seed=0)
        with pytest.warns(RuntimeWarning, match="are not trained"):
            nn.fit(model, X, y, loss="mse", epochs=epochs, verbose=False, shuffle=False,
                   optimizer=nn.SGD(model.layers[1].parameters(), lr=0.1))
        runs[epochs] = model
    grad_w, _ = ReferenceNetwork.from_model(runs[2]).gradients(X, y, loss="mse")
    frozen = np.array([[w.grad for w in n.w] for n in runs[3].layers[0].neurons])
    np.testing.assert_allclose(frozen, grad_w[0], rtol=1e-12, atol=1e-15)
    assert np.any(frozen != 0.0)
