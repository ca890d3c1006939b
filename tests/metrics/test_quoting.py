"""Per-sample quoting against every known text, and the gate that judges each sample."""

import pytest

from qwen_qlora.metrics.gate import quoting_gate
from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.metrics.quoting import gate_reasons, known_texts, quoting_summary, sample_quoting

# Toy verses written for these tests.
TRAIN = {"id": "akh-1", "title": "Свеча", "completion":
         "Горит свеча в пустой светлице,\nЧасы стучат, и ночь длинна,\n"
         "Мне до утра опять не спится,\nИ в окнах белая луна."}
TEST = {"id": "akh-2", "title": None, "completion":
        "Идёт по городу апрель,\nВ ручьях играет солнце,\nИ тонко плачет свирель\nЗа приоткрытым оконцем."}
REFERENCE = {"id": "blok-7", "title": "Вокзал", "author": "blok", "text":
             "Гудит вокзал, и дым плывёт над крышами,\nИ поезд мой уходит на восток."}
RAW = {"source": "lyriccloud", "locator": "sources/lyriccloud/Book.txt#3",
       "text": "Старый мельник у плотины\nсмотрит в омут до зари"}
NOVEL = [f"Цветёт сирень у старой школы номер {i},\nИ голос твой звенит весёлый." for i in range(15)]


@pytest.fixture(scope="module")
def index():
    texts, labels = known_texts({"train": [TRAIN], "test": [TEST]}, [REFERENCE], [RAW])
    return CorpusIndex.build(texts, doc_ids=labels)


def samples(index, texts, model="adapted"):
    return [{"model": model, "theme": "любовь", "sample": i, "text": t,
             "quoting": sample_quoting(index, t)} for i, t in enumerate(texts)]


def test_labels_name_role_poem_and_source(index):
    assert index.doc_ids == ["train:akh-1 «Свеча»", "test:akh-2", "reference:blok-7 «Вокзал»",
                             "raw:lyriccloud:Book.txt#3"]


def test_one_reciting_sample_among_fifteen_originals_fails_the_gate(index):
    recited = TRAIN["completion"]
    batch = samples(index, NOVEL + [recited])
    summary = quoting_summary([s["quoting"] for s in batch], 0.2, 8)
    assert summary["copied_line_share"] < 0.2  # the pooled share would have let it pass
    message = quoting_gate(batch, 0.2, 8)
    assert message is not None and message.startswith("1 of 16 samples fail")
    assert "любовь #15" in message and "train:akh-1 «Свеча»" in message
    assert quoting_gate(samples(index, NOVEL), 0.2, 8) is None


@pytest.mark.parametrize("text,source", [
    (TEST["completion"], "test:akh-2"),
    ("Гудит вокзал, и дым плывёт над крышами,\nА я стою один у старой двери.", "reference:blok-7 «Вокзал»"),
    ("Старый мельник у плотины\nсмотрит в омут до зари,\nа потом уходит спать.", "raw:lyriccloud:Book.txt#3"),
])
def test_recited_test_reference_and_raw_poems_are_caught_with_their_source(index, text, source):
    (s,) = samples(index, [text])
    assert gate_reasons(s["quoting"], 0.2, 8)
    assert source in {m["doc_id"] for m in s["quoting"]["copied_lines"]}


def test_a_one_word_changed_line_counts_as_copied(index):
    q = sample_quoting(index, "Горит свеча в пустой каморке,\nА мне тепло и хорошо у печки.")
    assert [m["kind"] for m in q["copied_lines"]] == ["near"]
    assert q["copied_line_share"] == 0.5 and q["copied_line_share_exact"] == 0.0


def test_long_copied_run_across_changed_line_breaks_fails(index):
    # The same words, broken into other lines: no line matches, the word run does
    text = "Горит свеча\nв пустой светлице, часы стучат, и ночь\nдлинна, а мне легко."
    q = sample_quoting(index, text)
    assert q["longest_copied_run_words"] >= 8
    assert any("run copied from train:akh-1" in r for r in gate_reasons(q, 0.9, 8))


def test_an_empty_sample_fails(index):
    assert gate_reasons(sample_quoting(index, ""), 0.2, 8) == ["empty: no verse words"]
    assert gate_reasons(sample_quoting(index, "1913\n* * *"), 0.2, 8) == ["empty: no verse words"]


def test_summary_carries_intervals_that_cover_the_point(index):
    batch = samples(index, NOVEL + [TRAIN["completion"], TEST["completion"]])
    summary = quoting_summary([s["quoting"] for s in batch], 0.2, 8)
    for key in ("copied_line_share", "poems_with_copied_line_share", "gate_failure_share"):
        assert summary[f"{key}_ci_low"] <= summary[key] <= summary[f"{key}_ci_high"]
    assert summary["gate_failure_share"] == pytest.approx(2 / 17, abs=1e-4)
    with pytest.raises(ValueError, match="no generations"):
        quoting_summary([], 0.2, 8)
