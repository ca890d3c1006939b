"""The demo page: `qwen-qlora serve` starts a local web app on 127.0.0.1 where a person
types (or picks) a theme, sets the sampling and the form, and gets base and adapted poems
side by side with their scansion and flags. The form picker starts at params.yaml's
generate.form (auto: the poet's commonest form, written by the form decoder); "free"
samples without the decoder; the poet's common forms are offered, and any form may be
typed ("iamb 4 ABAB x3").

Why Flask and not Gradio: Gradio is what this field's demos use, but it pulls in a
large stack (FastAPI, uvicorn, httpx, pandas, a bundled front end of several MB), loads
fonts and front-end assets from CDNs unless configured otherwise, checks for updates and
sends analytics by default, and runs its UI as JavaScript. This page must work with no
network at all and show poems (untrusted text) safely. Flask (already installed with the
project's test tools, maintained by Pallets) serves one server-rendered HTML form with
inline CSS: no external asset, jinja2 autoescaping for every poem, and a plain HTML form
that works in any browser. The trade-off: no streaming of tokens while a poem is written;
the page returns when both poems are done. While it waits, one small inline script
(`WRITING_SCRIPT`, the only one the page's Content-Security-Policy allows, by its hash)
disables the buttons and shows "writing the poems…" with the seconds so far; without
JavaScript the form posts the same and the browser's own spinner is all that shows.

The model loads once at start. Generation runs under the Poet's lock, so concurrent
requests queue (each waits for the one before). A bad input or a failure is shown on the
page as one line; the traceback goes to the server log only.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

from flask import Flask, render_template, request
from jinja2 import ChoiceLoader, PackageLoader
from markupsafe import Markup

from qwen_qlora.app.poet import MODELS, Poet
from qwen_qlora.metrics.form_annotation import describe_form

log = logging.getLogger("qwen_qlora.app.serve")
FIELDS = {"temperature": float, "top_p": float, "max_new_tokens": int, "repetition_penalty": float}

# While a request is in flight: the buttons are disabled once the form's data is taken (a
# button disabled before that would drop a picked theme), "writing the poems… N s" shows,
# and a second submit is ignored; a page restored by the back button is reset.
WRITING_SCRIPT = """
var form = document.querySelector("form.ask"), note = document.getElementById("writing");
function idle() {
  delete form.dataset.busy; note.hidden = true;
  form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
}
form.addEventListener("submit", function (event) {
  if (form.dataset.busy) { event.preventDefault(); return; }
  var started = Date.now(), seconds = document.getElementById("writing-seconds");
  form.dataset.busy = "1"; note.hidden = false; seconds.textContent = "0";
  setTimeout(function () { form.querySelectorAll("button").forEach(function (b) { b.disabled = true; }); }, 0);
  var timer = setInterval(function () {
    if (!form.dataset.busy) { clearInterval(timer); return; }
    seconds.textContent = Math.floor((Date.now() - started) / 1000);
  }, 1000);
});
window.addEventListener("pageshow", function (event) { if (event.persisted) { idle(); } });
"""
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(WRITING_SCRIPT.encode()).digest()).decode()


def _form_settings(form: Any, generate: Any) -> tuple[Any, int]:
    """The page's decoding overrides and seed: `generate.decoding()` checks the ranges, as for
    the command line and the generate stage."""
    values: dict[str, Any] = {}
    for name, kind in {**FIELDS, "seed": int}.items():
        raw = (form.get(name) or "").strip()
        if not raw:
            continue
        try:
            values[name] = kind(raw)
        except ValueError:
            raise ValueError(f"{name}: {raw!r} is not a {'whole ' if kind is int else ''}number") from None
    seed = values.pop("seed", 0)
    return generate.decoding(**values), seed


def _asked_form(poet: Poet, generate: Any, asked: str, typed: str, forms: dict[str, dict]) -> dict | None:
    """The form decoder's request from the picker (`asked`) or the typed form: a typed form
    wins; "" is params.yaml's generate.form, "free" no form."""
    if typed:
        return poet.form_request(generate.form_spec(typed))
    if asked == "free":
        return None
    if asked:
        if asked not in forms:
            raise ValueError(f"form: {asked!r} is not one of the offered forms")
        return forms[asked]
    return poet.form_request(generate.form_spec())


def create_app(poet: Poet, themes: list[str], generate: Any, forms: dict[str, dict] | None = None) -> Flask:
    """The Flask app around a loaded Poet; `generate`: params.yaml's generate section, whose
    decoding and form the page starts from; `forms`: the poet's common forms by their words
    (`form_annotation.describe_form`), offered beside params.yaml's form and "free"."""
    forms = forms or {}
    defaults = {**{k: getattr(generate.decoding(), k) for k in FIELDS}, "seed": 0}
    app = Flask(__name__, template_folder="templates")
    # The page shares the report's stylesheet (report/templates/report.css).
    app.jinja_loader = ChoiceLoader([app.jinja_loader, PackageLoader("qwen_qlora.report", "templates")])
    app.jinja_env.autoescape = True  # Flask escapes only *.html by name; these are *.html.j2
    app.jinja_env.globals.update(script=Markup(WRITING_SCRIPT), script_hash=SCRIPT_HASH)

    @app.route("/", methods=["GET", "POST"])
    def index() -> Any:
        form = request.form if request.method == "POST" else {}
        theme = form.get("pick") or form.get("theme", "")  # a picked theme button, else the typed one
        asked, typed = form.get("form", ""), (form.get("form_text") or "").strip()
        sampling, result, error, status, written_in = defaults, None, None, 200, None
        if request.method == "POST":
            try:
                decoding, seed = _form_settings(form, generate)
                sampling = {**{k: getattr(decoding, k) for k in FIELDS}, "seed": seed}
                request_ = _asked_form(poet, generate, asked, typed, forms)
                result = poet.write(theme, decoding, seed, form=request_)
                written_in = describe_form(request_) if request_ else "free (no form decoder)"
            except ValueError as err:  # the person's input: say what to change
                error, status = str(err), 400
            except Exception as err:  # noqa: BLE001 (anything else: one line on the page, details in the log)
                log.exception("generation failed for theme %r", theme)
                error, status = f"the model failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}", 500
        return render_template("serve.html.j2", themes=themes, theme=theme, sampling=sampling, result=result,
                               models=MODELS, error=error, forms=list(forms), asked=asked, typed=typed,
                               default_form=generate.form, written_in=written_in), status

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_here(err: Any) -> Any:
        return render_template("serve.html.j2", themes=themes, theme="", sampling=defaults, result=None,
                               models=MODELS, error=f"{err.code}: {err.name}; the page is at /", forms=list(forms),
                               asked="", typed="", default_form=generate.form, written_in=None), err.code

    return app


def serve(app: Flask, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve until interrupted (threaded: a request waits for the model, not for the socket)."""
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
