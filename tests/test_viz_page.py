"""export_html: the step-through page, in a real headless Chromium driven by selenium.

The page must show the engine's numbers: after pressing Next to the end, every running
gradient in the page equals what `Value.backward()` stores, to the last bit.
"""

from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path

import pytest

import autograd
from autograd import Value, viz
from autograd.naming import short_scope

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--window-size=1400,900"]


def neuron_with_reuse() -> tuple[Value, list[Value]]:
    """tanh(w0*x0 + w1*x1 + b) * x0 + x0*x0: x0 is used three times (gradients add up)."""
    x0 = Value(0.7, label="x0")
    x1 = Value(-1.3, label="x1")
    w0 = Value(-0.4, label="w0")
    w1 = Value(0.9, label="w1")
    b = Value(0.25, label="b")
    n = x0 * w0 + x1 * w1 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    out = o * x0 + x0 * x0
    out.label = "out"
    return out, [x0, x1, w0, w1, b]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        pytest.fail(f"the page test needs Debian's chromium and chromium-driver, missing: "
                    f"{', '.join(missing)}; install them with "
                    f"'apt-get install chromium chromium-driver' (make test does, as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def load(browser, path: Path) -> None:
    browser.get(path.resolve().as_uri())


def by_id(browser, element_id: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, element_id)


def panel(browser) -> dict[str, str]:
    """The current step's lines, by key (upstream, local, contribution, ...), each number
    with every digit (the panel shows four decimals; hovering shows them all)."""
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#lines tr")
    return {r.get_attribute("data-name"):
            r.find_elements(By.TAG_NAME, "td")[1].get_attribute("title") for r in rows}


def table_grads(browser) -> list[str]:
    """The values table's gradients with every digit ('—' before any)."""
    from selenium.webdriver.common.by import By

    return [td.get_attribute("title") or td.text
            for td in browser.find_elements(By.CSS_SELECTOR, "#values td.grad")]


def svg_grad(browser, node_id: str) -> str:
    from selenium.webdriver.common.by import By

    for element in browser.find_elements(By.CSS_SELECTOR, f'g[id="{node_id}"] text'):
        text = element.get_attribute("textContent")  # also for a box zoomed out of view
        if text.startswith("grad "):
            return text
    raise AssertionError(f"no grad line in {node_id}")


def test_page_steps_forward_then_backward_and_ends_with_the_engines_gradients(
        browser, tmp_path):
    out, leaves = neuron_with_reuse()
    page = tmp_path / "steps.html"
    viz.export_html(out, page)
    assert all(v.grad == 0.0 for v in autograd.topological_order(out))  # left untouched
    order = autograd.topological_order(out)
    expected_steps = len(order) + 1 + sum(len(v.parents) for v in order)

    out.backward()  # the engine's numbers, to compare with the page's
    load(browser, page)
    assert by_id(browser, "counter").text == f"0 / {expected_steps}"
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').length") == 0  # nothing fetched

    nxt = by_id(browser, "next")
    backward_steps = 0
    while nxt.is_enabled():
        nxt.click()
        phase = by_id(browser, "phase").text.lower()
        if phase == "backward":
            backward_steps += 1
            lines = panel(browser)
            upstream, local = float(lines["upstream"]), float(lines["local"])
            contribution = float(lines["contribution"])
            assert upstream * local == contribution
            assert float(lines["before"]) + contribution == float(lines["grad"])
    assert by_id(browser, "counter").text == f"{expected_steps} / {expected_steps}"
    assert backward_steps == sum(len(v.parents) for v in order)

    shown = table_grads(browser)
    assert [float(s) for s in shown] == [v.grad for v in order]
    for i, v in enumerate(order):
        assert svg_grad(browser, f"v{i}") == f"grad {v.grad:.4f}"

    # A hand check on top: d out / d x0 = tanh'(n) w0 x0 + tanh(n) + 2 x0.
    import math

    n = 0.7 * -0.4 + -1.3 * 0.9 + 0.25
    hand = (1 - math.tanh(n) ** 2) * -0.4 * 0.7 + math.tanh(n) + 2 * 0.7
    assert float(shown[order.index(leaves[0])]) == pytest.approx(hand, rel=1e-12)


def test_prev_goes_back_and_play_advances(browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    out, _ = neuron_with_reuse()
    page = tmp_path / "steps.html"
    viz.export_html(out, page)
    load(browser, page)
    nxt, prev = by_id(browser, "next"), by_id(browser, "prev")
    assert not prev.is_enabled()
    order = autograd.topological_order(out)
    for _ in range(len(order) + 1):  # the whole forward pass and the seed
        nxt.click()
    assert by_id(browser, "phase").text.lower() == "seed"
    grads = table_grads(browser)
    assert grads[-1] == "1.0" and set(grads[:-1]) == {"0.0"}
    nxt.click()
    assert by_id(browser, "phase").text.lower() == "backward"
    prev.click()
    assert by_id(browser, "phase").text.lower() == "seed"
    assert table_grads(browser) == grads
    prev.click()
    assert by_id(browser, "phase").text.lower() == "forward"
    assert set(table_grads(browser)) == {"—"}

    play = by_id(browser, "play")
    before = by_id(browser, "counter").text
    play.click()
    assert play.text == "Pause"
    WebDriverWait(browser, 10).until(lambda d: by_id(d, "counter").text != before)
    play.click()
    assert play.text == "Play"


def test_page_is_self_contained_and_labels_cannot_inject_markup(tmp_path):
    a = Value(1.0, label="</script><script>alert(1)</script>")
    b = Value(2.0, label="<b>&amp;</b>")
    out = a * b
    page = Path(viz.export_html(out, tmp_path / "p.html", title="x < y & z"))
    text = page.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text
    assert "<b>&amp;</b>" not in text
    assert "x &lt; y &amp; z" in text
    assert not re.search(r"""\b(src|href)\s*=|<link|@import|url\(""", text)
    # The only addresses are XML namespace names inside the inline SVG.
    addresses = set(re.findall(r"https?://[^\s\"']+", text))
    assert addresses <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert text.count("<svg") == 1 and "<!DOCTYPE svg" not in text


def test_export_html_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="export_html: root must be a Value, got int"):
        viz.export_html(3, tmp_path / "p.html")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="export_html"):
        viz.export_html(Value(1.0), tmp_path / "p.html", gradient="x")  # type: ignore
    assert not (tmp_path / "p.html").exists()


def test_export_html_without_dot_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(os.environ, "PATH", str(tmp_path))  # no dot on this PATH
    out, _ = neuron_with_reuse()
    with pytest.raises(viz.GraphvizNotFoundError, match="export_html: .*apt-get install"):
        viz.export_html(out, tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_export_html_refuses_a_graph_too_large_to_step_through(tmp_path):
    x = Value(0.5, label="x")
    y = x
    for _ in range(100):
        y = y.tanh()
    with pytest.raises(viz.GraphTooLargeError, match="export_html: the graph has 201 nodes"):
        viz.export_html(y, tmp_path / "p.html")
    assert viz.export_html(y, tmp_path / "p.html", max_nodes=300).endswith("p.html")


def page_data(path: Path) -> dict:
    import json

    text = path.read_text(encoding="utf-8")
    start = text.index('id="chainrule-data">') + len('id="chainrule-data">')
    return json.loads(text[start:text.index("</script>", start)])


def test_every_box_on_the_page_carries_the_name_its_steps_use(tmp_path):
    # "Backward: #2 (*) sends gradient to w" must point at a box the reader can find.
    x, w, b = Value(0.5, label="x"), Value(-1.2, label="w"), Value(0.3, label="b")
    out = (x * w + b).tanh()
    page = tmp_path / "neuron.html"
    viz.export_html(out, page)
    data = page_data(page)
    names = [v["name"] for v in data["values"]]
    # Unlabelled values are named by their operation and operands, never '#n'.
    assert names == ["x", "w", "x·w", "b", "x·w + b", "tanh(x·w + b)"]
    text = page.read_text(encoding="utf-8")
    for i, name in enumerate(names):
        box = re.search(rf'<g id="v{i}" class="node">(.*?)</g>', text, re.S)
        assert box, name
        shown = re.findall(r'font-weight="bold"[^>]*>([^<]*)</text>', box.group(1))
        assert [html.unescape(t) for t in shown] == [name]
    assert any(step["title"] == "Backward: x·w sends gradient to w" for step in data["steps"])
    # draw_dot itself still leaves unlabelled values untitled.
    assert "<B>x·w</B>" not in viz.draw_dot(out).source and "<B>w</B>" in viz.draw_dot(out).source


def test_page_names_repeated_labels_apart_and_counts_one_step_per_edge(tmp_path):
    import nn

    layer = nn.Layer(2, 2, activation="tanh", seed=0)  # two neurons, each with w0, w1, b
    xs = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    a, b = layer(xs)
    out = a * b
    out.label = "out"
    page = tmp_path / "layer.html"
    viz.export_html(out, page)
    data = page_data(page)
    names = [v["name"] for v in data["values"]]
    assert len(set(names)) == len(names)
    order = autograd.topological_order(out)
    for name, v in zip(names, order):  # a shared label is qualified by its neuron's scope
        assert name.endswith(v.label) if v.label else "#" not in name
        if v.label in ("w0", "w1", "b"):
            assert name == f"{short_scope(v.scope)}.{v.label}"
    w0s = [short_scope(v.scope) for v in order if v.label == "w0"]
    assert len(set(w0s)) == 2 and all(re.search(r"(^|\.)n[01]$", s) for s in w0s), w0s
    phases = [s["phase"] for s in data["steps"]]
    assert phases.count("forward") == len(order)
    assert phases.count("seed") == 1
    assert phases.count("backward") == sum(len(v.parents) for v in order)


# -- the page for networks: equations, names, digits, address, zoom, check, quiz ----------

def step_to(browser, k: int) -> None:
    """Open step k (1-based) through the address, as a link would."""
    browser.execute_script(f"location.hash = '#step={k}'")


def test_each_step_shows_its_equation_with_names_and_numbers(browser, tmp_path):
    out, leaves = neuron_with_reuse()
    page = tmp_path / "steps.html"
    viz.export_html(out, page)
    data = page_data(page)
    out.backward()
    order = autograd.topological_order(out)
    names = [v["name"] for v in data["values"]]
    assert not any(re.fullmatch(r".*#\d+.*", n) for n in names)  # never '#n'
    assert "x0·w0" in names and "x0·w0 + x1·w1" in names  # unlabelled: by operation
    for step in data["steps"]:
        assert not re.search(r"#\d", step["title"] + step["equation"])
    load(browser, page)
    # The backward step that sends x0·w0's gradient to w0.
    k = next(n for n, s in enumerate(data["steps"], start=1)
             if s["phase"] == "backward" and s["title"] == "Backward: x0·w0 sends gradient to w0")
    step_to(browser, k)
    product = by_id(browser, "product").text
    w0 = leaves[2]
    mul = next(v for v in order if v.op == "*" and v.parents == (leaves[0], w0))
    assert product == (f"w0.grad += (x0·w0).grad × ∂(x0·w0)/∂w0 = {mul.grad:.4f} × "
                       f"0.7000 = {mul.grad * 0.7:.4f}")
    lines = panel(browser)
    assert lines["rule"] == "∂(x0·w0)/∂w0 = x0"
    # The panel shows the drawing's four decimals; hovering gives every digit.
    rows = {r.get_attribute("data-name"): r for r in
            browser.find_elements("css selector", "#lines tr")}
    cell = rows["local"].find_elements("tag name", "td")[1]
    assert cell.text == "0.7000" and cell.get_attribute("title") == "0.7"
    # A forward step: the operation with its operands' numbers.
    forward = next(n for n, s in enumerate(data["steps"], start=1)
                   if s["title"] == "Forward: o = tanh(n)")
    step_to(browser, forward)
    n = next(v for v in order if v.label == "n")
    o = next(v for v in order if v.label == "o")
    assert by_id(browser, "product").text == (
        f"o = tanh(n) = tanh({n.data:.4f}) = {o.data:.4f}")


def test_the_address_opens_a_step_and_follows_the_steps(browser, tmp_path):
    out, _ = neuron_with_reuse()
    page = tmp_path / "steps.html"
    viz.export_html(out, page)
    total = len(page_data(page)["steps"])
    browser.get(page.resolve().as_uri() + "#step=7")
    assert by_id(browser, "counter").text == f"7 / {total}"
    by_id(browser, "next").click()
    assert browser.execute_script("return location.hash") == "#step=8"
    by_id(browser, "prev").click()
    by_id(browser, "prev").click()
    assert browser.execute_script("return location.hash") == "#step=6"
    step_to(browser, total + 50)  # past the end: the last step
    assert by_id(browser, "counter").text == f"{total} / {total}"


def chain_network(width: int = 6) -> Value:
    """A 2-width-width-1 tanh network from nn: about a hundred nodes to draw."""
    import nn

    model = nn.MLP(2, [width, width, 1], activation="tanh", seed=1)
    x = [Value(0.5, label="x0"), Value(-0.3, label="x1")]
    out = model(x)
    loss = (out - 0.25) ** 2
    loss.label = "loss"
    return loss


def view_scale(browser) -> float:
    return browser.execute_script(
        "const s = document.querySelector('#drawing svg');"
        "return document.getElementById('drawing').clientWidth / s.viewBox.baseVal.width;")


def test_zoom_pan_fit_and_the_current_node_kept_readable(browser, tmp_path):
    loss = chain_network()
    drawn = len(autograd.topological_order(loss)) + sum(
        1 for v in autograd.topological_order(loss) if not v.is_leaf)
    assert drawn >= 100
    page = tmp_path / "net.html"
    viz.export_html(loss, page, max_nodes=400)
    load(browser, page)
    fitted = view_scale(browser)
    assert fitted < 0.9  # the whole graph in a 1400x900 window: too small to read
    by_id(browser, "zoomin").click()
    assert view_scale(browser) == pytest.approx(fitted * 1.25)
    browser.execute_script(
        "document.getElementById('drawing').dispatchEvent(new WheelEvent('wheel',"
        "{deltaY: -100, clientX: 300, clientY: 300, bubbles: true, cancelable: true}))")
    assert view_scale(browser) == pytest.approx(fitted * 1.25 * 1.2)
    before = browser.execute_script("return document.querySelector('#drawing svg')"
                                    ".getAttribute('viewBox')")
    from selenium.webdriver.common.action_chains import ActionChains

    svg = browser.find_element("css selector", "#drawing svg")
    ActionChains(browser).move_to_element_with_offset(svg, 10, 10).click_and_hold() \
        .move_by_offset(120, 40).release().perform()
    after = browser.execute_script("return document.querySelector('#drawing svg')"
                                   ".getAttribute('viewBox')")
    bx, by_ = (float(t) for t in before.split()[:2])
    ax, ay = (float(t) for t in after.split()[:2])
    s = view_scale(browser)
    assert ax == pytest.approx(bx - 120 / s, abs=2 / s)
    assert ay == pytest.approx(by_ - 40 / s, abs=2 / s)
    by_id(browser, "fit").click()
    assert view_scale(browser) == pytest.approx(fitted)

    # Stepping keeps the current node on screen at a readable size, wherever it is.
    steps = page_data(page)["steps"]
    for k in [*range(1, len(steps), 7), len(steps)]:
        step_to(browser, k)
        focus = steps[k - 1]["focus"][0]
        inside, text_px = browser.execute_script(
            "const g = document.querySelector('g[id=\"' + arguments[0] + '\"]');"
            "const r = g.getBoundingClientRect();"
            "const v = document.getElementById('drawing').getBoundingClientRect();"
            "const t = g.querySelector('text').getBoundingClientRect();"
            "return [r.left >= v.left && r.right <= v.right && r.top >= v.top "
            "&& r.bottom <= v.bottom, t.height];", focus)
        assert inside, k
        assert text_px >= 10, (k, text_px)


def test_gradient_check_marks_a_wrong_derivative_on_drawing_and_panel(browser, tmp_path,
                                                                     fresh_ops):
    # A primitive whose derivative rule is wrong (2x instead of 3x^2): the central
    # difference, which never uses the rule, disagrees there and only there downstream.
    @autograd.primitive(derivative=lambda x, out: 2.0 * x, name="bad_cube")
    def bad_cube(x):
        return x ** 3

    x = Value(0.8, label="x")
    y = Value(-0.5, label="y")
    c = bad_cube(x * y)
    c.label = "c"
    out = (c + y).tanh()
    out.label = "out"
    page = tmp_path / "check.html"
    viz.export_html(out, page)
    data = page_data(page)
    by_name = {v["name"]: v for v in data["values"]}
    t = math.tanh((0.8 * -0.5) ** 3 - 0.5)
    assert by_name["c"]["fdOk"] and float(by_name["c"]["fdFull"]) == pytest.approx(1 - t * t)
    assert not by_name["x·y"]["fdOk"]  # d out / d (x·y) = (1 - t^2) 3 (xy)^2, not 2xy
    assert float(by_name["x·y"]["fdFull"]) == pytest.approx((1 - t * t) * 3 * 0.4 ** 2,
                                                            rel=1e-6)
    assert not by_name["x"]["fdOk"] and by_name["out"]["fdOk"]

    load(browser, page)
    step_to(browser, len(data["steps"]))
    order = [v["name"] for v in data["values"]]
    rows = browser.find_elements("css selector", "#values tbody tr")
    marks = {order[i]: row.find_element("css selector", "td.check") for i, row in
             enumerate(rows)}
    assert "✗" in marks["x·y"].text and "bad" in marks["x·y"].get_attribute("class")
    assert "✓" in marks["c"].text and "ok" in marks["c"].get_attribute("class")
    bad_box = by_name["x·y"]["box"]
    assert "fd-bad" in browser.find_element("css selector", f'g[id="{bad_box}"]') \
        .get_attribute("class")
    assert "fd-bad" not in browser.find_element(
        "css selector", f'g[id="{by_name["c"]["box"]}"]').get_attribute("class")
    assert len(browser.find_elements("css selector", "g.fd-bad")) == 3  # x, y, x·y


def test_quiz_one_right_and_one_wrong_answer(browser, tmp_path):
    x, w, b = Value(0.5, label="x"), Value(-1.2, label="w"), Value(0.3, label="b")
    out = (x * w + b).tanh()
    out.label = "out"
    page = tmp_path / "quiz.html"
    viz.export_html(out, page, quiz=True)
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""\b(src|href)\s*=|fetch\(|XMLHttpRequest|sendBeacon""", text)
    data = page_data(page)
    steps = data["steps"]
    first = next(n for n, s in enumerate(steps, start=1) if s["phase"] == "backward")
    load(browser, page)
    step_to(browser, first)
    assert not by_id(browser, "next").is_enabled()  # answer first
    assert "local" not in panel(browser) and "grad" not in panel(browser)
    assert by_id(browser, "product").text.endswith("× ? = ?")
    assert by_id(browser, "values").find_elements("css selector", "th.check") == []

    answer = steps[first - 1]["question"]
    box = by_id(browser, "answer")
    box.send_keys(f"{float(answer['answer']):.4f}")
    by_id(browser, "check").click()
    assert by_id(browser, "verdict").get_attribute("class") == "right"
    assert by_id(browser, "score").text == "Score 1 / 1"
    assert by_id(browser, "next").is_enabled()
    assert "grad" in panel(browser)  # now the whole step is shown

    by_id(browser, "next").click()
    second = steps[first]["question"]
    by_id(browser, "answer").send_keys(f"{float(second['answer']) + 0.5:.4f}\n")
    verdict = by_id(browser, "verdict")
    assert verdict.get_attribute("class") == "wrong"
    assert f"{second['target']} = {second['shown']}" in verdict.text
    assert steps[first]["equation"] in verdict.text  # the step's explanation
    assert by_id(browser, "score").text == "Score 1 / 2"

    remaining = sum(1 for s in steps if s["phase"] == "backward") - 2
    for _ in range(remaining):
        by_id(browser, "next").click()
        by_id(browser, "reveal").click()
    assert by_id(browser, "counter").text == f"{len(steps)} / {len(steps)}"
    assert by_id(browser, "score").text == f"Quiz finished: 1 of {remaining + 2} right"


def test_the_page_displays_inline_in_a_notebook_with_its_script(browser, tmp_path):
    out, _ = neuron_with_reuse()
    shown = viz.export_html(out, tmp_path / "steps.html")
    assert isinstance(shown, str) and shown.endswith("steps.html")
    notebook = tmp_path / "notebook.html"
    notebook.write_text("<!DOCTYPE html><html><body>" + shown._repr_html_() + "</body></html>",
                        encoding="utf-8")
    load(browser, notebook)
    frame = browser.find_element("tag name", "iframe")
    browser.switch_to.frame(frame)
    try:
        total = len(page_data(Path(shown))["steps"])
        assert by_id(browser, "counter").text == f"0 / {total}"
        by_id(browser, "next").click()
        assert by_id(browser, "counter").text == f"1 / {total}"
    finally:
        browser.switch_to.default_content()


def test_collapsed_network_page_steps_on_the_boxes(browser, tmp_path):
    import nn

    model = nn.MLP(3, [8, 8, 1], activation="tanh", seed=2)
    out = model([Value(0.2, label="x0"), Value(-0.4, label="x1"), Value(0.9, label="x2")])
    with pytest.raises(viz.GraphTooLargeError, match="Try collapse='neuron'"):
        viz.export_html(out, tmp_path / "big.html")
    page = tmp_path / "net.html"
    viz.export_html(out, page, collapse="neuron")
    data = page_data(page)
    text = page.read_text(encoding="utf-8")
    ids = set(re.findall(r'<g id="([^"]+)"', text))
    for step in data["steps"]:
        assert set(step["focus"]) <= ids and set(step["edges"]) <= ids, step["title"]
    load(browser, page)
    step_to(browser, len(data["steps"]))
    out.backward()
    order = autograd.topological_order(out)
    assert [float(g) for g in table_grads(browser)] == [v.grad for v in order]


def test_chainrule_graph_quiz_writes_the_quiz_page(tmp_path, capsys):
    from nn.cli import main

    path = tmp_path / "q.svg"
    assert main(["graph", "tanh(x*w + b)", "--set", "x=0.5", "w=-1.2", "b=0.3",
                 "--out", str(path), "--quiz"]) == 0
    data = page_data(tmp_path / "q.html")
    assert data["quiz"] is True
    assert f"wrote {tmp_path / 'q.html'}" in capsys.readouterr().out
    assert main(["graph", "x*2", "--set", "x=1", "--out", str(tmp_path / "h.svg"),
                 "--html"]) == 0
    assert page_data(tmp_path / "h.html")["quiz"] is False
