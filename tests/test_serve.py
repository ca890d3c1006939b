"""The demo page on a tiny model, in headless Chromium: a typed theme gives base and
adapted poems side by side with scansion; while poems are written the page says so; bad
input and failures show one line on the page; a hostile theme is shown as text; concurrent
requests queue on one model."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import urllib.parse
import urllib.request
from urllib.error import HTTPError

import pytest
from fixtures.adapters import tiny_project
from werkzeug.serving import make_server

import qwen_qlora.generation.decode
from qwen_qlora.app.poet import Poet
from qwen_qlora.app.serve import create_app
from qwen_qlora.config import load_params
from qwen_qlora.metrics.form_annotation import request_form

THEMES = ["зима", "море"]
IAMB_WORDS = "ямбом, 4 стопы, рифмовка ABAB, 2 строфы по 4 строки"


@pytest.fixture(scope="module")
def server(gemma_base, tmp_path_factory):
    root = tiny_project(tmp_path_factory.mktemp("project"), gemma_base[0], THEMES, prompt_form="annotated")
    params = load_params(root / "params.yaml")
    poet = Poet.load(params, root / "models/adapter", base_dir=root / "models/base/tiny",
                     train_poems=root / "data/processed/train.jsonl", index=root / "models/quoting_index.pkl",
                     word_table=root / "models/word_table.json")
    app = create_app(poet, THEMES, params.generate, {IAMB_WORDS: request_form("iamb", 4, "ABAB", 2)})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/", poet
    srv.shutdown()


def post(url: str, **form: str) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=120) as resp:
            return resp.status, resp.read().decode()
    except HTTPError as err:
        return err.code, err.read().decode()


def test_typed_theme_in_a_browser(server, tmp_path):
    from fixtures.browser import chromium, is_blank, save_screenshot
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    driver = chromium()
    try:
        driver.get(url)
        # one inline script (the in-flight note), nothing loaded from anywhere
        assert driver.execute_script("return [document.scripts.length, [...document.scripts].filter(s => s.src).length]"
                                     ) == [1, 0]
        options = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "datalist option")]
        assert options == THEMES
        box = driver.find_element(By.NAME, "theme")
        box.send_keys("первый снег")
        seed = driver.find_element(By.NAME, "seed")
        seed.clear()
        seed.send_keys("5")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 120).until(ec.presence_of_element_located((By.ID, "result")))
        assert driver.find_element(By.CSS_SELECTOR, "h2.theme-name").text == "первый снег"
        for model in ("base", "adapted"):
            cell = driver.find_element(By.CSS_SELECTOR, f"td.model-{model}")
            assert cell.find_element(By.CSS_SELECTOR, "pre.poem").text.strip()
            assert "meter" in cell.text and "rhyme rate" in cell.text
        assert driver.find_element(By.NAME, "seed").get_attribute("value") == "5"  # settings kept
        shot = save_screenshot(driver, tmp_path / "demo.png")
        assert not is_blank(shot)
    finally:
        driver.quit()


def test_picked_theme_in_a_browser(server):
    from fixtures.browser import chromium
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    driver = chromium()
    try:
        driver.get(url)
        picks = driver.find_elements(By.CSS_SELECTOR, "button.theme-pick")
        assert [b.text for b in picks] == THEMES
        picks[1].click()
        WebDriverWait(driver, 120).until(ec.presence_of_element_located((By.ID, "result")))
        assert driver.find_element(By.CSS_SELECTOR, "h2.theme-name").text == THEMES[1]
    finally:
        driver.quit()


def test_the_page_says_poems_are_being_written_while_they_are(server):
    """Once the form is sent, the buttons are disabled and "writing the poems… N s" counts
    up (the page's policy lets its one script run). The request is held in flight by
    stopping the submission after the page's own handler has run (a browser driver waits
    for a real navigation before it answers)."""
    from fixtures.browser import chromium
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    driver = chromium()
    try:
        driver.get(url)
        note = driver.find_element(By.ID, "writing")
        assert not note.is_displayed()
        driver.execute_script("document.querySelector('form.ask').addEventListener('submit', e => e.preventDefault())")
        driver.find_element(By.NAME, "theme").send_keys("море")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        assert note.is_displayed() and note.text.startswith("writing the poems…")
        WebDriverWait(driver, 5).until(
            lambda d: not any(b.is_enabled() for b in d.find_elements(By.CSS_SELECTOR, "form.ask button")))
        WebDriverWait(driver, 10).until(lambda d: int(d.find_element(By.ID, "writing-seconds").text) >= 1)
    finally:
        driver.quit()


def test_the_in_flight_note_is_in_the_markup_and_its_script_is_the_one_allowed(server):
    url, _ = server
    with urllib.request.urlopen(url, timeout=30) as resp:
        page = resp.read().decode()
    assert re.search(r'<p class="note" id="writing" role="status" hidden>writing the poems… '
                     r'<span id="writing-seconds">0</span> s</p>', page)
    (script,) = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    (policy,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert 'method="post"' in page  # without JavaScript the form posts as before


def test_same_seed_same_poems_and_settings_matter(server):
    url, _ = server
    a = post(url, theme="море", seed="1", max_new_tokens="16")
    b = post(url, theme="море", seed="1", max_new_tokens="16")
    c = post(url, theme="море", seed="2", max_new_tokens="16")
    assert a[0] == 200 and a[1] == b[1] and a[1] != c[1]


def test_the_form_picker_starts_at_params_and_free_is_one_switch_away(server):
    url, _ = server
    default = post(url, theme="море", seed="1", max_new_tokens="16")
    picked = post(url, theme="море", seed="1", max_new_tokens="16", form=IAMB_WORDS)
    assert picked[0] == 200 and f'<option value="{IAMB_WORDS}" selected>' in picked[1]
    # params.yaml's auto is the train poems' commonest form, the one picked here: the same poems
    assert f"form: {IAMB_WORDS}" in default[1] and "form decoder" in default[1]
    poems = [page.split('<section id="result">')[1] for _, page in (default, picked)]
    assert poems[0] == poems[1]
    free = post(url, theme="море", seed="1", max_new_tokens="16", form="free")
    assert "form: free (no form decoder)" in free[1] and free[1].split('<section id="result">')[1] != poems[0]
    typed = post(url, theme="море", seed="1", form_text="iamb 4 AABB x1")
    assert typed[0] == 200 and "form: ямбом, 4 стопы, рифмовка AABB, 4 строки" in typed[1]


def test_hostile_theme_is_text(server):
    url, _ = server
    status, page = post(url, theme="<script>alert(1)</script><img src=x onerror=alert(1)>")
    assert status == 200
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize("form, message", [
    ({"theme": ""}, "the theme is empty"),
    ({"theme": "зима", "temperature": "hot"}, "temperature: &#39;hot&#39; is not a number"),
    ({"theme": "зима", "top_p": "3"}, "generate.top_p: must be &lt;= 1, got 3.0"),
    ({"theme": "зима", "max_new_tokens": "9999"}, "generate.max_new_tokens: must be &lt;= 512, got 9999"),
    ({"theme": "зима", "form": "сонет"}, "form: &#39;сонет&#39; is not one of the offered forms"),
    ({"theme": "зима", "form_text": "iamb 4 ABAB"}, "form: &#39;iamb 4 ABAB&#39; is not a form"),
])
def test_bad_input_is_one_line_on_the_page(server, form, message):
    url, _ = server
    status, page = post(url, **form)
    assert status == 400 and 'id="error"' in page and message in page and "Traceback" not in page


def test_model_failure_is_one_line_on_the_page(server, monkeypatch):
    url, poet = server

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory\n  at some frame")

    monkeypatch.setattr(qwen_qlora.generation.decode, "decode", broken)
    status, page = post(url, theme="зима", form="free")
    assert status == 500 and "the model failed: RuntimeError: CUDA out of memory" in page
    assert "some frame" not in page and "Traceback" not in page


def test_requests_queue_on_one_model(server):
    """Two requests at once: the model is never used by both at the same time."""
    url, poet = server
    active, peak, lock = [0], [0], threading.Lock()
    original = qwen_qlora.generation.decode.decode

    def counting(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    qwen_qlora.generation.decode.decode = counting
    try:
        results = []
        threads = [threading.Thread(target=lambda s=s: results.append(post(url, theme="зима", seed=str(s), form="free")))
                   for s in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        qwen_qlora.generation.decode.decode = original
    assert [r[0] for r in results] == [200, 200, 200] and peak[0] == 1
