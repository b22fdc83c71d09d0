"""Screenshots of the step-through page for docs/drawing.md, in headless Chromium.

Run from the repository root:  python docs/make_page_pictures.py
Writes docs/images/page_222.png (the 2-2-2 network of docs/tour.md at a backward step of
w1), page_demo.png (the demo's 2-16-16-1 network, one box per neuron) and page_quiz.png
(the 2-2-2 network in quiz mode, after a wrong answer), each in a 1400x900 window.  Needs
Debian's chromium and chromium-driver and the selenium package (pip install -e '.[dev]').
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nn
from autograd import Value
from autograd.viz import export_html
from nn.losses import get_loss

IMAGES = Path(__file__).resolve().parent / "images"
WINDOW = (1400, 900)
W1_STEP = "Backward: w1·0.05 sends gradient to w1"
DEMO_STEP = "Backward: l0.n3: w0·x1 + w1·x2 + b sends gradient to l0.n3.b"
QUIZ_STEP = "Backward: E_total sends gradient to E_o1"


def tour_network() -> Value:
    """The published 2-2-2 example with its names (docs/tour.md, section 4)."""
    i1, i2, t1, t2 = 0.05, 0.10, 0.01, 0.99
    p = {name: Value(x, label=name) for name, x in
         [("w1", 0.15), ("w2", 0.20), ("w3", 0.25), ("w4", 0.30), ("w5", 0.40),
          ("w6", 0.45), ("w7", 0.50), ("w8", 0.55), ("b1", 0.35), ("b2", 0.60)]}

    def named(value: Value, label: str) -> Value:
        value.label = label
        return value

    out_h1 = named(named(p["w1"] * i1 + p["w2"] * i2 + p["b1"], "net_h1").sigmoid(), "out_h1")
    out_h2 = named(named(p["w3"] * i1 + p["w4"] * i2 + p["b1"], "net_h2").sigmoid(), "out_h2")
    out_o1 = named(named(p["w5"] * out_h1 + p["w6"] * out_h2 + p["b2"], "net_o1").sigmoid(),
                   "out_o1")
    out_o2 = named(named(p["w7"] * out_h1 + p["w8"] * out_h2 + p["b2"], "net_o2").sigmoid(),
                   "out_o2")
    e_o1 = named(0.5 * (t1 - out_o1) ** 2, "E_o1")
    e_o2 = named(0.5 * (t2 - out_o2) ** 2, "E_o2")
    return named(e_o1 + e_o2, "E_total")


def demo_network() -> Value:
    """The loss of one moons example on the demo's 2-16-16-1 network (seed 0)."""
    model = nn.MLP(2, [16, 16, 1], seed=0)
    X, y = nn.moons(100, seed=0)
    output = model([Value(float(v), label=f"x{i + 1}") for i, v in enumerate(X[0])])
    loss = get_loss("bce_with_logits")([output], [float(y[0])])
    loss.label = "loss"
    return loss


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                            options=options)


def step_of(page: Path, title: str) -> int:
    import json

    text = page.read_text(encoding="utf-8")
    start = text.index('id="chainrule-data">') + len('id="chainrule-data">')
    steps = json.loads(text[start:text.index("</script>", start)])["steps"]
    return next(k for k, s in enumerate(steps, start=1) if s["title"] == title)


def main() -> int:
    IMAGES.mkdir(exist_ok=True)
    driver = browser()
    try:
        with tempfile.TemporaryDirectory() as folder:
            here = Path(folder)
            page = Path(export_html(tour_network(), here / "tour.html",
                                    title="The 2-2-2 network of the tour"))
            driver.get(page.as_uri() + f"#step={step_of(page, W1_STEP)}")
            driver.save_screenshot(str(IMAGES / "page_222.png"))

            page = Path(export_html(demo_network(), here / "demo.html", collapse="neuron",
                                    title="The demo's 2-16-16-1 network, one box per neuron"))
            driver.get(page.as_uri() + f"#step={step_of(page, DEMO_STEP)}")
            driver.save_screenshot(str(IMAGES / "page_demo.png"))

            page = Path(export_html(tour_network(), here / "quiz.html", quiz=True,
                                    title="The 2-2-2 network, as a quiz"))
            driver.get(page.as_uri() + f"#step={step_of(page, QUIZ_STEP)}")
            driver.find_element("id", "answer").send_keys("1\n")  # right: E_o1.grad = 1
            driver.find_element("id", "next").click()
            driver.find_element("id", "answer").send_keys("0.5\n")  # wrong
            driver.save_screenshot(str(IMAGES / "page_quiz.png"))
    finally:
        driver.quit()
    for name in ("page_222.png", "page_demo.png", "page_quiz.png"):
        print(f"wrote {IMAGES / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
