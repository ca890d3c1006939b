import json

from dvc_data.hashfile.istextfile import istextblock

from qwen_qlora.io import write_json, write_metrics


def test_metrics_with_russian_text_stay_text_to_dvc(tmp_path):
    data = {"requests": [{"form": "анапестом, 3 стопы, рифмовка ABAB, 3 строфы по 4 строки"}] * 20}
    write_json(tmp_path / "plain.json", data)
    write_metrics(tmp_path / "metrics.json", data)
    assert not istextblock((tmp_path / "plain.json").read_bytes()[:512])  # what DVC refuses as metrics
    assert istextblock((tmp_path / "metrics.json").read_bytes()[:512])
    assert json.loads((tmp_path / "metrics.json").read_text()) == data
