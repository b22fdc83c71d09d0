"""export_html: the step-through page, in a real headless Chromium driven by selenium.

The page must show the engine's numbers: after pressing Next to the end, every running
gradient in the page equals what `Value.backward()` stores, to the last bit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import autograd
from autograd import Value, viz

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
    """The current step's lines, by key (upstream, local, contribution, ...)."""
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#lines tr")
    return {r.get_attribute("data-name"): r.find_elements(By.TAG_NAME, "td")[1].text
            for r in rows}


def table_grads(browser) -> list[str]:
    from selenium.webdriver.common.by import By

    return [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#values td.grad")]


def svg_grad(browser, node_id: str) -> str:
    from selenium.webdriver.common.by import By

    for text in browser.find_elements(By.CSS_SELECTOR, f'g[id="{node_id}"] text'):
        if text.text.startswith("grad "):
            return text.text
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
    assert names == ["x", "w", "#2", "b", "#4", "#5"]
    text = page.read_text(encoding="utf-8")
    for i, name in enumerate(names):
        box = re.search(rf'<g id="v{i}" class="node">(.*?)</g>', text, re.S)
        assert box, name
        assert re.findall(r'font-weight="bold"[^>]*>([^<]*)</text>', box.group(1)) == [name]
    assert any("#2 (*)" in step["title"] for step in data["steps"])
    # draw_dot itself still leaves unlabelled values untitled.
    assert "<B>#2</B>" not in viz.draw_dot(out).source and "<B>w</B>" in viz.draw_dot(out).source


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
    assert [n.split("#")[0] for n in names] == [v.label for v in order]
    phases = [s["phase"] for s in data["steps"]]
    assert phases.count("forward") == len(order)
    assert phases.count("seed") == 1
    assert phases.count("backward") == sum(len(v.parents) for v in order)
