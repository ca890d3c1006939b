import json

from dvc_data.hashfile.istextfile import istextblock

from qwen_qlora.io import key_figures, unmatched_keys, write_figures, write_json, write_metrics


def test_metrics_with_russian_text_stay_text_to_dvc(tmp_path):
    data = {"requests": [{"form": "анапестом, 3 стопы, рифмовка ABAB, 3 строфы по 4 строки"}] * 20}
    write_json(tmp_path / "plain.json", data)
    write_metrics(tmp_path / "metrics.json", data)
    assert not istextblock((tmp_path / "plain.json").read_bytes()[:512])  # what DVC refuses as metrics
    assert istextblock((tmp_path / "metrics.json").read_bytes()[:512])
    assert json.loads((tmp_path / "metrics.json").read_text()) == data


def test_key_figures_keep_the_matching_paths_and_their_intervals():
    full = {"headline": {"ratio": 0.9, "ratio_ci_low": 0.8, "ratio_ci_high": 1.0, "poems": 33},
            "base": {"rhyme_rate": 0.1, "rhyme_rate_ci_low": 0.0, "rhyme_rate_ci_high": 0.2, "meter": {"iamb": 0.4}},
            "adapted": {"rhyme_rate": 0.2}, "runtime_s": 9.0, "requests": [1, 2]}
    kept = key_figures(full, ["headline.ratio+ci", "*.rhyme_rate", "runtime_s"])
    assert kept == {"headline": {"ratio": 0.9, "ratio_ci_low": 0.8, "ratio_ci_high": 1.0},
                    "base": {"rhyme_rate": 0.1}, "adapted": {"rhyme_rate": 0.2}, "runtime_s": 9.0}


def test_a_key_figure_that_matches_nothing_is_listed():
    full = {"adapted": {"rhyme_rate": 0.2}}
    assert key_figures(full, ["adapted.rhyme_rate", "adapted.typo"]) == full
    assert unmatched_keys(full, ["adapted.rhyme_rate", "adapted.typo", "*.rhyme_rate+ci"]) == ["adapted.typo"]


def test_write_figures_puts_everything_in_the_detail_and_the_key_figures_in_the_metrics(tmp_path):
    full = {"a": {"x": 1, "y": "строка"}, "b": 2}
    write_figures(tmp_path / "m.json", tmp_path / "d.json", full, ["a.x"])
    assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8")) == full
    assert json.loads((tmp_path / "m.json").read_text(encoding="ascii")) == {"a": {"x": 1}}
