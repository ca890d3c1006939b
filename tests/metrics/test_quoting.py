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


# Light rewordings: each must fail the gate through a reason that names the source poem.
FAMOUS = ("Я пришла к тебе под вечер,\nКогда догорал закат,\nИ несла в ладонях свечи\nЧерез тёмный старый сад.\n\n"
          "Ты молчал, и было слышно,\nКак шумит в саду листва,\nКак над крышей пролетают\nНевесёлые слова.\n\n"
          "Я ушла, не попрощавшись,\nНе закрыла за собой\nТу калитку, где когда-то\nМы стояли над рекой.")
FOURS = ("Зима легла на крыши,\nЗамёрзли окна дома,\nМолчит старинный колокол,\nБелеют санные следы,\n"
         "Дымится печка в кухне,\nТемнеет синий вечер,\nСкрипят ворота сада,\nСобака лает глухо,\n"
         "Горят огни вокзала,\nУходит поздний поезд,\nСнежинки тают в ладонях,\nЗвезда встаёт над лесом.")
SHORT_A = "Сирень цветёт,\nСкворец поёт,\nРучей бежит,\nМосток дрожит,\nГроза прошла,\nЗемля тепла."
SHORT_B = "Луна взошла,\nСова кричит,\nКамыш шуршит,\nВода светла,\nТуман плывёт,\nРыбак гребёт."
STOCK = "Я тебя люблю,\nЯ жду тебя,\nКак ждёт весну\nзамёрзший пруд."
FILLER = [f"{a} {n} {v} за горой" for a in ("Зелёный", "Весёлый", "Далёкий", "Высокий")
          for n in ("трамвай", "апрель", "маяк", "фонтан") for v in ("звенит", "плывёт", "поёт")]


@pytest.fixture(scope="module")
def toy_index():
    poems = {"test:famous": FAMOUS, "train:fours": FOURS, "train:short-a": SHORT_A, "val:short-b": SHORT_B,
             "reference:stock": STOCK}
    return CorpusIndex.build(list(poems.values()), doc_ids=list(poems))


def verse(text):
    return [ln.strip(" ,.") for ln in text.splitlines() if ln.strip()]


def fails_naming(index, text, source):
    reasons = gate_reasons(sample_quoting(index, text, 4, 0.85), 0.2, 8, 2)
    assert reasons and all("run copied" not in r for r in reasons), reasons
    assert any(source in r for r in reasons), reasons
    return reasons


def test_two_words_changed_in_every_line_fails(toy_index):
    reworded = ("Я пришёл к тебе под утро,\nКогда алел восход,\nИ несла в руках лампаду\nЧерез тёмный мокрый луг.\n\n"
                "Он молчал, и было страшно,\nКак шумит в лесу трава,\nКак за крышей пролетали\nНепонятные слова.\n\n"
                "Он ушёл, не попрощавшись,\nНе закрыла дверь за мной\nЭту калитку, где весною\nМы стояли под луной.")
    q = sample_quoting(toy_index, reworded, 4, 0.85)
    assert q["copied_line_share"] <= 0.2  # no line is close enough on its own
    assert any("lines match lines of test:famous" in r for r in fails_naming(toy_index, reworded, "test:famous"))


def test_one_change_plus_a_swap_in_every_line_fails(toy_index):
    def reword(line):
        ws = line.split()
        return " ".join([ws[1], ws[0]] + ws[2:-1] + ["ночью"]) if len(ws) >= 4 else line + " ночью"
    fails_naming(toy_index, "\n".join(reword(ln) for ln in verse(FAMOUS)), "test:famous")


def test_a_patchwork_of_verbatim_three_word_lines_fails(toy_index):
    patch = [verse(SHORT_A)[i] if i % 2 else verse(SHORT_B)[i] for i in range(6)]
    patch += [verse(SHORT_B)[i] if i % 2 else verse(SHORT_A)[i] for i in range(6)]
    fails_naming(toy_index, "\n".join(patch), "short-")


def test_a_cento_of_two_short_lines_per_poem_fails(toy_index):
    cento = verse(SHORT_A)[:2] + FILLER[:2] + verse(SHORT_B)[:2] + FILLER[2:4] + ["Когда догорал закат", "Невесёлые слова"]
    q = sample_quoting(toy_index, "\n".join(cento), 4, 0.85)
    assert q["lines_from_one_poem"] == 2
    (reason,) = gate_reasons(q, 0.2, 8, 2)
    assert reason.startswith("a cento: 6 of its 10 lines") and "test:famous" in reason


def test_twelve_four_word_lines_with_one_change_each_fails(toy_index):
    changed = [" ".join(ln.split()[:-1] + ["вновь"]) for ln in verse(FOURS)]
    fails_naming(toy_index, "\n".join(changed), "train:fours")


def test_two_verbatim_lines_in_ten_not_adjacent_fail(toy_index):
    lines_ = FILLER[:8]
    lines_.insert(1, "Я пришла к тебе под вечер,")
    lines_.insert(6, "Ты молчал, и было слышно,")
    q = sample_quoting(toy_index, "\n".join(lines_), 4, 0.85)
    assert q["copied_line_share"] == 0.2 and q["longest_copied_run_words"] < 8
    assert gate_reasons(q, 0.2, 8, 2) == ["2 of its lines copied from one poem, test:famous (limit 1)"]


def test_a_whole_poem_interleaved_one_to_four_with_filler_fails(toy_index):
    mixed = [ln for i, own in enumerate(verse(FAMOUS)) for ln in [own] + FILLER[4 * i: 4 * i + 4]]
    q = sample_quoting(toy_index, "\n".join(mixed), 4, 0.85)
    assert q["copied_line_share"] < 0.2
    batch = [{"model": "adapted", "theme": "ночь", "sample": 0, "quoting": q}]
    message = quoting_gate(batch, 0.2, 8, 2)
    assert "12 of its lines match lines of test:famous" in message and "from test:famous" in message


def test_stock_phrases_and_a_single_copied_line_pass(toy_index):
    for text in ("Я тебя люблю,\nЯ жду тебя,\nА за окном идёт трамвай\nИ тает в лужах синий день.",
                 "\n".join(FILLER[:9] + ["Я пришла к тебе под вечер"])):
        assert gate_reasons(sample_quoting(toy_index, text, 4, 0.85), 0.2, 8, 2) == [], text
