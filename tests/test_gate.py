"""The verbatim-quoting gate fires on copied lines and stays quiet on new ones."""

from qwen_qlora.gate import quoting_gate
from qwen_qlora.metrics.overlap import CorpusIndex

TRAIN = ["Горит свеча в пустой светлице,\nЧасы стучат, и ночь длинна,\n"
         "Мне до утра опять не спится,\nИ в окнах белая луна."]


def test_gate_fires_and_names_the_sample():
    index = CorpusIndex.build(TRAIN)
    copied = {"theme": "грусть", "sample": 1,
              "text": "Часы стучат, и ночь длинна,\nМне до утра опять не спится,\nА дождь идёт над старым садом."}
    novel = {"theme": "любовь", "sample": 0, "text": "Цветёт сирень у старой школы,\nИ голос твой звенит весёлый."}
    msg = quoting_gate(index, [novel, copied], max_share=0.2)
    assert msg is not None and "грусть #1" in msg and "Часы стучат" in msg
    assert quoting_gate(index, [novel], max_share=0.2) is None
    assert quoting_gate(index, [novel, copied], max_share=0.9) is None
