"""Rhyme pairs on real stanzas: 211 stanzas of twelve reference poets (Blok, Pasternak,
Tsvetaeva, Mandelstam, Tyutchev, Annensky, Solovyov, Celan in translation, Pushkin,
Lermontov, Nekrasov, Brodsky), read from the offline corpus snapshot and labelled by
ear in tests/fixtures/rhyme_stanzas.jsonl (see tests/fixtures/rhyme_stanzas.py), and
46 more in rhyme_stanzas_holdout.jsonl, labelled after the rules were written and not
used to tune them. A harder set, `rhyme_stanzas_hard.jsonl` (134 windows of 20th-century
poets: inexact, assonant, truncated and compound rhymes, dactylic and longer endings,
each line's clausula labelled as read aloud), is the one the current rules were tuned
on; `rhyme_stanzas_hard_holdout.jsonl` (61 windows drawn with it and set aside) was
labelled only after those rules were committed, and the rules have not changed since:
its figures are the detector's honest measure on real 20th-century verse.
`benchmarks/rhyme_eval.py` prints the misses and false alarms behind these
numbers, with intervals, and splits misses into stress errors and rule misses."""

import json

import pytest

from fixtures.rhyme_stanzas import (FIXTURE, CorpusMismatch, load_stanzas, miss_causes,
                                    scheme_pairs, score_pairs, stanza_sha1)
from qwen_qlora.metrics.meter import fit_stress_to_meter
from qwen_qlora.metrics.rhyme import RHYME_WINDOW, rhyme_pairs
from qwen_qlora.metrics.stress import load_stresser

HOLDOUT = FIXTURE.with_name("rhyme_stanzas_holdout.jsonl")
HARD = FIXTURE.with_name("rhyme_stanzas_hard.jsonl")
HARD_HOLDOUT = FIXTURE.with_name("rhyme_stanzas_hard_holdout.jsonl")

# Measured: precision 0.998 and recall 0.947 (429 of 453 pairs, one false alarm) with
# the scansion pass; recall 0.912 (precision 0.993) on the stress model's stresses
# alone. Held out: precision 1.0, recall 0.953 (81 of 85).
MIN_PRECISION = 0.99
MIN_RECALL = 0.94
MIN_RECALL_WITHOUT_METER = 0.9
MIN_HOLDOUT_PRECISION = 0.98
MIN_HOLDOUT_RECALL = 0.94
# Hard set: precision 0.986 (351 of 356), recall 0.914 (351 of 384); of the 33 misses
# 13 are stress errors and 20 rule misses; with the labelled clausulae recall is 0.943.
MIN_HARD_PRECISION = 0.98
MIN_HARD_RECALL = 0.9
MIN_HARD_RECALL_READER_STRESS = 0.93
# Hard holdout: precision 0.958 (161 of 168), recall 0.890 (161 of 181); of the 20 misses
# 6 are stress errors and 14 rule misses; with the labelled clausulae recall is 0.901.
# The target was recall >= 0.8 at precision >= 0.93.
MIN_HARD_HOLDOUT_PRECISION = 0.95
MIN_HARD_HOLDOUT_RECALL = 0.88


@pytest.fixture(scope="module")
def stresser():
    return load_stresser()


@pytest.fixture(scope="module")
def stressed(stresser):
    stanzas = load_stanzas()          # a clear CorpusMismatch when the snapshot is missing
    lines = stresser.stress_texts(["\n".join(st.lines) for st in stanzas])
    return stanzas, lines


def test_precision_and_recall_on_held_out_stanzas(stresser):
    stanzas = load_stanzas(HOLDOUT)
    lines = stresser.stress_texts(["\n".join(st.lines) for st in stanzas])
    score = score_pairs(stanzas, [rhyme_pairs(fit_stress_to_meter(ls)) for ls in lines],
                        RHYME_WINDOW)
    assert score.precision >= MIN_HOLDOUT_PRECISION, score.false_alarms
    assert score.recall >= MIN_HOLDOUT_RECALL, [(st.source, p) for st, p in score.misses]


def _hard_score(stresser, fixture):
    stanzas = load_stanzas(fixture)
    lines = [fit_stress_to_meter(ls)
             for ls in stresser.stress_texts(["\n".join(st.lines) for st in stanzas])]
    return stanzas, lines, score_pairs(stanzas, [rhyme_pairs(ls) for ls in lines], RHYME_WINDOW)


def test_precision_and_recall_on_held_out_hard_stanzas(stresser):
    stanzas, lines, score = _hard_score(stresser, HARD_HOLDOUT)
    assert score.precision >= MIN_HARD_HOLDOUT_PRECISION, score.false_alarms
    assert score.recall >= MIN_HARD_HOLDOUT_RECALL, [(st.source, p) for st, p in score.misses]
    causes = miss_causes(score, stanzas, lines)
    assert causes.unknown == 0 and causes.rule_misses + causes.stress_errors == score.fn


def test_precision_and_recall_on_hard_stanzas(stresser):
    stanzas, lines, score = _hard_score(stresser, HARD)
    assert score.precision >= MIN_HARD_PRECISION, score.false_alarms
    assert score.recall >= MIN_HARD_RECALL, [(st.source, p) for st, p in score.misses]
    causes = miss_causes(score, stanzas, lines)
    assert causes.unknown == 0 and causes.stress_errors + causes.rule_misses == score.fn
    read = score_pairs(stanzas, [rhyme_pairs(ls, clausulae=st.clausulae)
                                 for st, ls in zip(stanzas, lines)], RHYME_WINDOW)
    assert read.recall >= MIN_HARD_RECALL_READER_STRESS
    assert read.recall > score.recall           # stress errors are a real share of misses


def test_labelled_set_is_large_and_varied(stressed):
    stanzas, _ = stressed
    assert len(stanzas) >= 200
    poets = {st.source.split("/")[-2] if "lyriccloud" not in st.source else st.source
             for st in stanzas}
    assert len(poets) >= 10
    unrhymed = sum(st.scheme.count("-") for st in stanzas)
    assert unrhymed >= 50 and sum(not st.pairs for st in stanzas) >= 10


def test_precision_and_recall_on_real_stanzas(stressed):
    stanzas, lines = stressed
    fitted = [rhyme_pairs(fit_stress_to_meter(ls)) for ls in lines]
    score = score_pairs(stanzas, fitted, RHYME_WINDOW)
    assert score.precision >= MIN_PRECISION, score.false_alarms
    assert score.recall >= MIN_RECALL, [(st.source, p) for st, p in score.misses]
    plain = score_pairs(stanzas, [rhyme_pairs(ls) for ls in lines], RHYME_WINDOW)
    assert plain.recall >= MIN_RECALL_WITHOUT_METER
    assert score.recall > plain.recall          # the scansion pass finds rhymes


def _fixture(tmp_path, lines, scheme="ABAB", sha1=None):
    corpus = tmp_path / "sources"
    (corpus / "poet").mkdir(parents=True)
    (corpus / "poet" / "poem.md").write_text("Заголовок\n\n" + "\n\n".join(lines) + "\n",
                                             encoding="utf-8")
    rec = {"source": "poet/poem.md", "line": 1, "n_lines": len(lines),
           "sha1": sha1 or stanza_sha1(lines), "scheme": scheme,
           "pairs": sorted(map(list, scheme_pairs(scheme)))}
    fixture = tmp_path / "stanzas.jsonl"
    fixture.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    return fixture, corpus


TOY = ["Горит свеча в пустой избе,", "Трещат поленья в тёплой печке,",
       "Я вспоминаю о тебе", "И о далёкой нашей речке."]


def test_loader_finds_stanzas_by_line_and_checks_them(tmp_path):
    fixture, corpus = _fixture(tmp_path, TOY)
    (st,) = load_stanzas(fixture, corpus)
    assert st.lines == tuple(TOY) and st.pairs == {(0, 2), (1, 3)}


def test_loader_fails_clearly_on_a_changed_or_missing_corpus(tmp_path):
    fixture, corpus = _fixture(tmp_path, TOY, sha1="0" * 40)
    with pytest.raises(CorpusMismatch, match="poet/poem.md have changed"):
        load_stanzas(fixture, corpus)
    with pytest.raises(CorpusMismatch, match="is missing"):
        load_stanzas(fixture, tmp_path / "nowhere")
    (corpus / "poet" / "poem.md").unlink()
    with pytest.raises(CorpusMismatch, match="is not in the corpus"):
        load_stanzas(fixture, corpus)


def test_loader_rejects_pairs_that_disagree_with_the_scheme(tmp_path):
    fixture, corpus = _fixture(tmp_path, TOY)
    rec = json.loads(fixture.read_text(encoding="utf-8"))
    rec["pairs"] = [[0, 2]]
    fixture.write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="disagree"):
        load_stanzas(fixture, corpus)


def test_poems_in_a_json_list_are_found_by_id(tmp_path):
    corpus = tmp_path / "sources"
    corpus.mkdir()
    poems = [{"id": "a-1", "text": "Заголовок\n" + "\n".join(TOY)}, {"id": "b-2", "text": "x"}]
    (corpus / "poems.json").write_text(json.dumps(poems, ensure_ascii=False), encoding="utf-8")
    rec = {"source": "poems.json", "id": "a-1", "line": 1, "n_lines": 4,
           "sha1": stanza_sha1(TOY), "scheme": "ABAB", "pairs": [[0, 2], [1, 3]],
           "clausulae": [0, 1, 0, 1]}
    fixture = tmp_path / "stanzas.jsonl"
    fixture.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    (st,) = load_stanzas(fixture, corpus)
    assert st.lines == tuple(TOY) and st.clausulae == (0, 1, 0, 1)
    fixture.write_text(json.dumps({**rec, "id": "zz"}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CorpusMismatch, match="no poem with id 'zz'"):
        load_stanzas(fixture, corpus)
