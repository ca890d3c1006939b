"""The evaluate and generate stages end to end on a tiny model: every model row, intervals,
the membership test and the probe, quoting against every known text, and the gate that
fails the stage."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixtures.adapters import save_adapter
from fixtures.judge_data import HER, OTHERS, record, verses
from fixtures.tiny_models import toy_records

from qwen_qlora.io import key_figures, read_jsonl, unmatched_keys, write_jsonl
from qwen_qlora.metrics.form_annotation import request_form
from qwen_qlora.metrics.non_verse import PROSE

ROOT = Path(__file__).resolve().parents[1]


def _stage(name: str):
    """A stage script as a module (its KEY_FIGURES); main() is not called."""
    spec = importlib.util.spec_from_file_location(f"{name}_stage", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


evaluate_stage, generate_stage, poetics_stage = (_stage(n) for n in ("evaluate", "generate", "poetics"))

TINY = {"source": "tiny", "eos_token": "<eos>", "pad_token": "<pad>",
        "attn_implementation": "eager", "fp16_safe": False}
ROWS = ["base", "base_4bit", "base_fewshot", "adapted_4bit", "adapted"]
# Other poets' verses for the "language kept" rows (made up for the tests)
OTHER_VERSES = [("осень", "Шуршат листы под ноги,\nи воздух чист и сух.\n\nУ пыльной той дороги\nзатих пастуший рог."),
                ("ночь", "Горит звезда над полем,\nмолчит седой туман.\n\nИ путь наш незамолен,\nи долог, и обман."),
                ("река", "Течёт река неспешно,\nи ивы у воды.\n\nИ всё на свете грешно,\nи все мы молоды.")]


@pytest.fixture(scope="module")
def workspace(gemma_base, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stages")
    base, _ = gemma_base
    save_adapter(base, tmp / "adapter")
    save_adapter(base, tmp / "verse", seed=2)  # the verse stage's adapter (the verse row)
    (tmp / "verse" / "verse_poems.json").write_text(  # the poems it learned (the held-out ones are dropped)
        json.dumps({"train": ["blok-1", "fet-0", "fet-1", "fet-2"], "val": []}))
    data = tmp / "data"
    write_jsonl(data / "train.jsonl", toy_records(4))
    write_jsonl(data / "val.jsonl", toy_records(1, start=4))
    write_jsonl(data / "test.jsonl", toy_records(2, start=4))
    write_jsonl(data / "reference.jsonl", [{"id": "blok-1", "author": "blok", "title": None,
                                            "text": "Гудит трамвай за сквером,\nи дождь стучит в окно."},
                                           *[{"id": f"fet-{i}", "author": "fet", "title": None, "text": poem}
                                             for i, (_, poem) in enumerate(OTHER_VERSES)]])
    write_jsonl(tmp / "raw" / "toy.jsonl", [{"source": "toy", "locator": "toy.txt#0", "text": "строка"}])
    # the words stage's table (toy verses under the tiny model's tokenizer), for the formed rows
    from fixtures.form_words import TOY_TEXT
    from transformers import AutoTokenizer

    from qwen_qlora.generation.form.words import build_word_table, save_table
    from qwen_qlora.metrics.stress import load_stresser

    save_table(build_word_table([TOY_TEXT], load_stresser(), AutoTokenizer.from_pretrained(base)),
               tmp / "word_table.json")
    return tmp, base


# poets whose poems train the generate stage's selection attributor (`selection_poets`)
SELECTION_POETS = ["pushkin", "lermontov", "mandelstam", "pasternak", "bunin", "balmont", "severyanin",
                   "zabolotsky", "zhukovsky", "baratynsky"]
JUDGE_POETS = ["blok", "tsvetaeva", "esenin", "fet", "tyutchev", "brodsky", "gumilev", "bryusov", "khodasevich",
               "kuzmin", "annensky", "sologub"]


def annotation(meter: str, scheme: str, stanzas: int) -> dict:
    """A stored form annotation (the annotate stage's record) of a regular poem."""
    n = 4 * stanzas
    return {**request_form(meter, 4, scheme, stanzas), "regularity": 1.0, "n_metered_lines": n, "n_lines": n,
            "rhymed_lines": n, "quatrain_schemes": [scheme] * stanzas, "n_polysyllables": 2 * n, "n_heuristic": 1}


@pytest.fixture(scope="module")
def generation_data(workspace):
    """The workspace's data with enough train poems (annotated with forms) and reference
    poets for the selection attributor."""
    tmp, _ = workspace
    data = tmp / "gen_data"
    iamb, trochee = annotation("iamb", "ABAB", 2), annotation("trochee", "AABB", 3)
    forms = [iamb, trochee, iamb, {**iamb, "confident": False}] * 3
    write_jsonl(data / "train.jsonl", [{**r, "form": f} for r, f in zip(toy_records(12), forms, strict=True)])
    write_jsonl(data / "val.jsonl", [{**r, "form": iamb} for r in toy_records(3, start=4)])
    write_jsonl(data / "test.jsonl", [{**r, "form": trochee} for r in toy_records(2, start=4)])
    words = "ночь улица фонарь аптека свет тусклый ветер поле дорога дым".split()
    write_jsonl(data / "reference.jsonl", [
        {"id": f"{poet}-{n}", "author": poet, "title": None,
         "text": "\n".join(" ".join(words[(i + k + j + n) % len(words)] for j in range(4)) for k in range(4))}
        for i, poet in enumerate(SELECTION_POETS + JUDGE_POETS) for n in range(2)])
    return data


def detail_name(outs: list[str]) -> str:
    """The --detail file beside a stage's metrics file: eval.json -> eval_detail.json."""
    return next(o for o in outs if o.endswith(".json")).replace(".json", "_detail.json")


def run(tmp: Path, base: Path, script: str, outs: list[str], data: str = "data", **params) -> subprocess.CompletedProcess:
    doc = {"model": {"preset": "tiny", "presets": {"tiny": TINY}},
           "split": {"prompt_template": "Напиши стихотворение на тему: {theme}", "prompt_form": "annotated"},
           "evaluate": {"batch_size": 2, "fewshot_shots": 1, "probe_max_new_tokens": 8, "retention_poems": 2},
           "generate": {"themes": ["зима", "море"], "samples_per_theme": 2, "formed_per_theme": 1, "max_new_tokens": 12},
           "words": {"rhyme_min_count": 1}}  # the toy word table's words are seen once
    for section, values in params.items():
        doc.setdefault(section, {}).update(values)
    (tmp / "params.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    args = {"evaluate": [tmp / data, base, tmp / "adapter"],
            "generate": [tmp / data, tmp / "raw", base, tmp / "adapter"]}[script]
    extra = ["--verse", str(tmp / "verse")] if script == "evaluate" else []
    return subprocess.run([sys.executable, str(ROOT / "stages" / f"{script}.py"), *map(str, args),
                           *[str(tmp / o) for o in outs], *extra, "--detail", str(tmp / detail_name(outs)),
                           "--params", str(tmp / "params.yaml"),
                           *(["--table", str(tmp / "word_table.json")] if script == "generate" else [])],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_evaluate_scores_every_row_with_intervals_the_probe_and_the_language_kept(workspace):
    tmp, base = workspace
    done = run(tmp, base, "evaluate", ["eval.json", "per_poem.jsonl"])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp / "eval_detail.json").read_text())
    assert unmatched_keys(result, evaluate_stage.KEY_FIGURES) == []  # every key figure is a real one
    assert json.loads((tmp / "eval.json").read_text()) == key_figures(result, evaluate_stage.KEY_FIGURES)
    for row in ROWS:
        r = result[row]
        assert r["test_poems"] == 2 and r["test_perplexity_ci_low"] <= r["test_perplexity"] <= r["test_perplexity_ci_high"]
    assert result["base"]["test_tokens"] == result["adapted"]["test_tokens"]
    assert result["base_fewshot"]["test_perplexity"] != result["base"]["test_perplexity"]
    assert result["base_4bit"]["test_perplexity"] != result["base"]["test_perplexity"]
    h = result["headline"]
    assert (h["numerator"], h["denominator"]) == ("adapted", "base")
    assert h["test_perplexity_ratio"] == pytest.approx(
        result["adapted"]["test_perplexity"] / result["base"]["test_perplexity"], rel=1e-6)
    assert h["test_perplexity_ratio_ci_low"] <= h["test_perplexity_ratio"] <= h["test_perplexity_ratio_ci_high"]
    f = result["vs_fewshot"]
    assert (f["numerator"], f["denominator"]) == ("adapted", "base_fewshot") and 0 <= f["poems_better"] <= 2
    assert f["test_perplexity_ratio"] == pytest.approx(
        result["adapted"]["test_perplexity"] / result["base_fewshot"]["test_perplexity"], rel=1e-6)
    for key in ("probe_train_rate", "probe_test_rate", "probe_rate_gap", "probe_train_poem_share",
                "probe_test_similarity"):
        assert key in result["adapted"] and f"{key}_ci_high" in result["adapted"]
    a = result["adapted"]
    assert (a["probe_train_poems"], a["probe_test_poems"]) == (4, 2)  # every line of every poem
    assert (a["probe_train_lines"], a["probe_test_lines"]) == (16, 8) and a["probe_vocab_tokens"] > 0
    assert "probe_train_rate" not in result["base_4bit"]
    m = result["membership"]  # every train poem (fewer than evaluate.membership_train_poems) against the test
    assert (m["n_train"], m["n_test"], m["train_poems_available"]) == (4, 2, 4)
    for key in ("auc", "adapted_auc", "base_auc", "auc_gap"):
        assert m[f"{key}_ci_low"] <= m[key] <= m[f"{key}_ci_high"]
    assert "membership AUC" in done.stdout
    per_poem = read_jsonl(tmp / "per_poem.jsonl")
    assert len(per_poem) == 2 and all(f"{row}_perplexity" in per_poem[0] for row in [*ROWS, "verse"])

    # The verse row (the verse stage's adapter alone) and the language kept on other poets' poems
    verse, adapted, base_row = result["verse"], result["adapted"], result["base"]
    assert verse["test_tokens"] == base_row["test_tokens"] and verse["test_poems"] == 2
    # its own adapter: neither the base (adapter off) nor the poet's adapter
    assert verse["test_perplexity"] not in (base_row["test_perplexity"], adapted["test_perplexity"])
    v = result["vs_verse"]
    assert (v["numerator"], v["denominator"]) == ("adapted", "verse")
    assert v["test_perplexity_ratio"] == pytest.approx(adapted["test_perplexity"] / verse["test_perplexity"], rel=1e-6)
    ret = result["retention"]
    assert ret["poems"] == 2  # the held-out draw
    assert set(ret) >= {"base", "verse", "adapted"}
    for row in ("verse", "adapted"):
        r = ret[row]
        assert r["poem_perplexity_vs_base_ci_low"] <= r["poem_perplexity_vs_base"] <= r["poem_perplexity_vs_base_ci_high"]
        assert r["poem_perplexity_vs_base"] == pytest.approx(r["poem_perplexity"] / ret["base"]["poem_perplexity"],
                                                             rel=1e-6)
    assert "language kept: verse / base" in done.stdout
    # prose: the project's own paragraphs, plain text, every token after the start token
    prose = result["retention_prose"]
    assert prose["texts"] == len(PROSE) and set(prose) >= {"base", "verse", "adapted"}
    assert len({prose[row]["tokens"] for row in ("base", "verse", "adapted")}) == 1  # the same tokens
    for row in ("verse", "adapted"):
        r = prose[row]
        assert r["perplexity_vs_base_ci_low"] <= r["perplexity_vs_base"] <= r["perplexity_vs_base_ci_high"]
        assert r["perplexity_vs_base"] == pytest.approx(r["perplexity"] / prose["base"]["perplexity"], rel=1e-6)
        assert r["perplexity_vs_base"] != 1.0  # the adapter changed something
    assert "prose paragraphs" in done.stdout
    mv = result["membership_verse"]  # the verse poems learned against the held-out ones, under verse and adapted
    for row in ("verse", "adapted"):
        assert (mv[row]["n_train"], mv[row]["n_test"]) == (2, 2)
        assert mv[row]["auc_ci_low"] <= mv[row]["auc"] <= mv[row]["auc_ci_high"]
    assert mv["verse"]["adapted_auc"] != mv["adapted"]["adapted_auc"]  # each row's own losses
    assert "membership of the verse stage's poems under adapted" in done.stdout
    # progress for the log: a line per row, with the time left, and per task within a row
    rows = [ln for ln in done.stdout.splitlines() if ln.startswith("evaluate: row ")]
    assert [ln.split(" (")[0] for ln in rows] == [f"evaluate: row {i}/6" for i in range(1, 7)]
    assert rows[0].startswith("evaluate: row 1/6 (17%): base: test perplexity") and rows[0].endswith(" left")
    for task in ("adapted: test poems 2/2", "adapted: membership: train poems 4/4", "adapted: probe: poems 6/6",
                 "verse: language kept: other poets' poems 2/2"):
        assert f"evaluate: {task} (100%); " in done.stdout, task
    assert "\r" not in done.stdout and "evaluate: " not in done.stderr  # no bar outside a terminal


def test_evaluate_without_the_verse_stage_has_no_verse_row(workspace):
    tmp, base = workspace
    done = run(tmp, base, "evaluate", ["eval_noverse.json", "per_poem_noverse.jsonl"], verse={"enabled": False},
               evaluate={"rows": ["base", "adapted"], "probe_rows": ["adapted"], "retention_poems": 2})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp / "eval_noverse_detail.json").read_text())
    assert "verse" not in result and "vs_verse" not in result
    assert set(result["retention"]) >= {"base", "adapted"} and "verse" not in result["retention"]


def test_generate_writes_every_row_and_the_gate_fails_on_a_copying_sample(workspace, generation_data):
    tmp, base = workspace
    outs = ["samples.jsonl", "samples.md", "generation.json"]
    done = run(tmp, base, "generate", outs, data="gen_data", evaluate={"on_copy": "warn"},
               generate={"candidates": 3, "rows": ROWS})
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp / "generation_detail.json").read_text())
    # toy samples of 12 new tokens may have no line long enough for the quoting share
    assert set(unmatched_keys(metrics, generate_stage.KEY_FIGURES)) <= {"*.copied_line_share"}
    assert json.loads((tmp / "generation.json").read_text()) == key_figures(metrics, generate_stage.KEY_FIGURES)
    samples = read_jsonl(tmp / "samples.jsonl")
    selected = ["adapted_4bit_selected", "adapted_selected", "base_full_vocab"]
    formed = ["base_formed", "base_fewshot_formed", "adapted_formed"]  # generate.formed_rows, a poem a theme
    assert {s["model"] for s in samples} == set(ROWS + selected + formed) and len(samples) == 8 * 2 * 2 + 3 * 2
    free = [s for s in samples if s["model"] == "base_full_vocab"]
    assert [(s["theme"], s["sample"]) for s in free] == [(s["theme"], s["sample"]) for s in samples
                                                         if s["model"] == "base"]
    assert metrics["known_texts"] == 12 + 3 + 2 + 44 + 1
    # the poet's two rhymed quatrain forms, asked for in turn; the prompt names each
    assert [r["form"] for r in metrics["requests"]] == ["ямбом, 4 стопы, рифмовка ABAB, 2 строфы по 4 строки",
                                                        "хореем, 4 стопы, рифмовка AABB, 3 строфы по 4 строки"]
    adapted = [s for s in samples if s["model"] == "adapted"]
    assert [s["request"] for s in adapted] == [r["form"] for r in metrics["requests"]] * 2
    assert all(s["prompt"].endswith("Форма: " + s["request"]) for s in samples)
    for row in ROWS + selected:
        m = metrics[row]
        assert m["n_generations"] == 4
        assert m["quatrain_compliance_share_ci_low"] <= m["quatrain_compliance_share"] <= m["quatrain_compliance_share_ci_high"]
        assert "cut_lines_mean" in m and "gate_failure_share" in m
        assert m["known_word_share_ci_low"] <= m["known_word_share"] <= m["known_word_share_ci_high"]
        assert m["n_words"] == sum(s["fluency"]["n_words"] for s in samples if s["model"] == row)
    for row in ROWS + selected + formed:  # fluency judged by the base model as shipped
        m = metrics[row]
        assert m["base_judge_perplexity_ci_low"] <= m["base_judge_perplexity"] <= m["base_judge_perplexity_ci_high"]
    for row in formed:  # the first request of each theme, in its form by the scanner, with the decoder's log
        mine = [s for s in samples if s["model"] == row]
        assert [(s["theme"], s["sample"]) for s in mine] == [("зима", 0), ("море", 0)]
        assert all(s["compliance"]["all"] for s in mine), [s["text"] for s in mine]
        m = metrics[row]
        assert m["formed_poems"] == 2 and m["formed_seconds_per_poem"] > 0
        assert m["base_judge_perplexity_ratio_to_free_ci_low"] <= m["base_judge_perplexity_ratio_to_free"] \
            <= m["base_judge_perplexity_ratio_to_free_ci_high"]
    for split in ("val", "test"):  # her own poems: the floor a row's fluency is read against
        assert 0.5 < metrics[f"poet_{split}"]["known_word_share"] <= 1
        for part in ("meter", "feet", "scheme", "stanzas", "all"):
            assert m[f"request_{part}_share_ci_low"] <= m[f"request_{part}_share"] <= m[f"request_{part}_share_ci_high"]
    assert all("text_cut" in s and "quoting" in s and "form_cut" in s and "compliance" in s for s in samples)
    # each selected poem is one of its row's 3 candidates, the best-scoring one that passes the gate
    chosen = [s for s in samples if s["model"] == "adapted_selected"]
    assert all(len(s["candidates"]) == 3 for s in chosen)
    for s in chosen:
        ok = [k for k, c in enumerate(s["candidates"]) if c["passes_gate"]]
        if ok:
            assert s["chosen"] == max(ok, key=lambda k: (s["candidates"][k]["score"], -k))
    first = {(s["theme"], s["sample"]): s["text"] for s in adapted}
    assert any(s["text"] != first[(s["theme"], s["sample"])] for s in chosen) or \
        all(s["chosen"] in (0, None) for s in chosen)
    assert metrics["selection"]["candidates"] == 3 and "p_author" in metrics["selection"]["score"]
    # progress for the log: a line per row (free, full-vocabulary, formed), poems within a row
    rows = [ln for ln in done.stdout.splitlines() if ln.startswith("generate: row ")]
    assert [ln.split(" (")[0] for ln in rows] == [f"generate: row {i}/9" for i in range(1, 10)]
    assert rows[-1].startswith("generate: row 9/9 (100%): ") and rows[0].endswith(" left")
    assert any(ln.split(": ", 2)[2].startswith("adapted_formed: 2 poems in ") for ln in rows)
    for task in ("adapted: poems 12/12", "base_full_vocab: poems 4/4", "adapted_formed: poems 2/2",
                 "fluency judge: poems 38/38"):
        assert f"generate: {task} (100%); " in done.stdout, task
    assert "\r" not in done.stdout and "generate: " not in done.stderr  # no bar outside a terminal
    # Make the adapted samples known texts: the same seed writes them again, and the gate
    # must now fail the stage, naming the sample and the known text it copies.
    adapted = [s for s in samples if s["model"] == "adapted"]
    write_jsonl(tmp / "raw" / "copies.jsonl", [{"source": "copies", "locator": f"c.txt#{i}", "text": s["text"]}
                                               for i, s in enumerate(adapted)])
    try:
        strict = run(tmp, base, "generate", outs, data="gen_data", evaluate={"on_copy": "fail", "min_line_words": 1},
                     generate={"candidates": 3, "rows": ROWS})
    finally:
        (tmp / "raw" / "copies.jsonl").unlink()
    assert strict.returncode != 0
    assert "samples fail the quoting gate" in strict.stderr and "adapted / зима #0" in strict.stderr
    assert "raw:copies:c.txt#0" in strict.stderr or "empty" in strict.stderr


def test_generate_with_the_corpus_vocabulary_samples_only_train_tokens(workspace, generation_data):
    tmp, base = workspace
    outs = ["samples_vocab.jsonl", "samples_vocab.md", "generation_vocab.json"]
    done = run(tmp, base, "generate", outs, data="gen_data", evaluate={"on_copy": "warn"},
               generate={"rows": ["base", "adapted"], "vocab": "corpus", "max_new_tokens": 24,
                         "full_vocab_rows": [], "formed_rows": [],
                         "candidates": 1})
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp / "generation_vocab_detail.json").read_text())
    train = read_jsonl(generation_data / "train.jsonl")
    letters = set("".join(r["prompt"] + r["completion"] for r in train)) | set(" \n")
    assert metrics["vocab"] == "corpus" and 0 < metrics["vocab_tokens"] < 300
    samples = read_jsonl(tmp / "samples_vocab.jsonl")
    assert len(samples) == 2 * 4 and sum(len(s["text"]) for s in samples) > 40
    assert all(set(s["text"]) <= letters for s in samples)


def test_poetics_profiles_stored_forms_and_judges_with_the_other_half_of_the_poets(workspace, generation_data):
    tmp, base = workspace
    if not (tmp / "samples.jsonl").exists():
        assert run(tmp, base, "generate", ["samples.jsonl", "samples.md", "generation.json"], data="gen_data",
                   evaluate={"on_copy": "warn"}, generate={"candidates": 3, "rows": ROWS}).returncode == 0
    # the judge learns her val + test poems and the judging half's poems, none of which may
    # be a poem the adapter or the selector learnt (the toy val and test repeat train poems,
    # and the toy reference poets share their poems): made-up verses with stored forms
    data = tmp / "judge_data"
    data.mkdir(exist_ok=True)
    (data / "train.jsonl").write_text((generation_data / "train.jsonl").read_text())
    write_jsonl(data / "reference.jsonl", [
        {"id": f"{poet}-{n}", "author": poet, "title": None, "text": text}
        for i, poet in enumerate(SELECTION_POETS + JUDGE_POETS) for n, text in enumerate(verses(OTHERS, 2, 300 + i))])
    her = verses(HER, 16, seed=3)
    write_jsonl(data / "val.jsonl", [record(100 + k, t) for k, t in enumerate(her[:8])])
    write_jsonl(data / "test.jsonl", [record(200 + k, t) for k, t in enumerate(her[8:])])
    params = yaml.safe_load((tmp / "params.yaml").read_text())
    (tmp / "params_poetics.yaml").write_text(yaml.safe_dump(
        {**params, "poetics": {"judge_folds": 3, "calibration_folds": 3}}, allow_unicode=True))
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "poetics.py"), str(data),
                           str(tmp / "samples.jsonl"), str(tmp / "attributor"), str(tmp / "poetics.json"),
                           "--detail", str(tmp / "poetics_detail.json"),
                           "--params", str(tmp / "params_poetics.yaml")], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp / "poetics_detail.json").read_text())
    assert unmatched_keys(result, poetics_stage.KEY_FIGURES) == []
    assert json.loads((tmp / "poetics.json").read_text()) == key_figures(result, poetics_stage.KEY_FIGURES)
    corpus = result["corpus"]
    # the corpus profile is the stored annotations' (12 train, 8 val, 8 test): no poem is scanned again
    assert (corpus["n_poems"], corpus["n_quatrains"]) == (28, 9 * 2 + 3 * 3 + 16)
    assert corpus["meter_share_iamb"] == round(25 / 28, 4) and corpus["rhyme_rate"] == 1.0
    assert result["attributor"]["n_train_target"] == 16
    assert result["attributor"]["n_train_reference"] + result["baselines"]["n_other_poets"] >= 2 * len(JUDGE_POETS)
    for row in ROWS + ["adapted_selected"]:
        r = result[row]
        assert "rhyme_rate" in r and 0 <= r["verse_share"] <= 1 and 0 <= r["p_author_mean_without_verse_rule"] <= 1
        # the tiny model's samples are rarely verse: p_author only where one scans as verse
        assert r["n_p_author_mean"] == 0 or 0 <= r["p_author_mean"] <= 1
    assert (tmp / "attributor" / "attributor.joblib").exists()
