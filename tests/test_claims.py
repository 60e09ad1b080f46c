"""The claims page: the verdict rule on synthetic figures, and pages rebuilt from results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmmusic.book import claims as C
from llmmusic.book.claims import INCONCLUSIVE, MISSING, NOT_SUPPORTED, SUPPORTED, Figure


def test_clearly_above_chance_is_supported():
    assert C.above_chance(Figure(0.40, 0.35, 0.45, n=400, chance=0.077)) == SUPPORTED


def test_clearly_at_chance_with_many_items_is_not_supported():
    # a narrow interval around chance: enough items to have seen an effect of 0.05, and none is there
    assert C.above_chance(Figure(0.08, 0.05, 0.11, n=650, chance=0.077)) == NOT_SUPPORTED


def test_too_few_items_is_inconclusive():
    assert C.above_chance(Figure(0.115, 0.0, 0.269, n=26, chance=0.077)) == INCONCLUSIVE


def test_below_chance_is_not_supported_and_a_figure_without_chance_is_an_error():
    assert C.above_chance(Figure(0.01, 0.0, 0.03, n=300, chance=0.2)) == NOT_SUPPORTED
    with pytest.raises(ValueError, match="no chance level"):
        C.above_chance(Figure(0.5, 0.4, 0.6))


def test_comparing_two_figures_uses_both_intervals():
    cnn, zs = Figure(0.60, 0.55, 0.65), Figure(0.10, 0.07, 0.13)
    assert C.exceeds(cnn, zs) == SUPPORTED and C.exceeds(zs, cnn) == NOT_SUPPORTED
    assert C.exceeds(Figure(0.2, 0.0, 0.4), zs) == INCONCLUSIVE  # one wide interval overlapping
    assert C.exceeds(Figure(0.11, 0.08, 0.14), zs) == NOT_SUPPORTED  # both narrow, overlapping
    assert C.exceeds(Figure(0.70, 0.66, 0.74), Figure(0.645)) == SUPPORTED  # a quoted point


def test_judge_reports_missing_evidence_and_the_below_test():
    claim = next(c for c in C.CLAIMS if c.id == "zs-below-supervised")
    zs = {("zeroshot:llm-genre", "d"): Figure(0.10, 0.07, 0.13, chance=0.077)}
    assert C.judge(claim, "d", zs).verdict == MISSING
    both = {**zs, ("cnn:llm-genre", "d"): Figure(0.60, 0.55, 0.65, chance=0.077)}
    assert C.judge(claim, "d", both).verdict == SUPPORTED
    assert C.judge(claim, "other", both).verdict == MISSING


def _zeroshot_rows(n: int, right: int, task: str = "llm-genre", dataset: str = "data/llm-midi/d") -> list[dict]:
    truths = ["Jazz", "Rock"]
    where = {"source": "llm-midi", "dataset": dataset} if task.startswith("llm-") else {"source": task}
    return [{"id": f"p{i}", "task": task, "mode": "score", **where, "truth": truths[i % 2],
             "pred": truths[i % 2] if i < right else truths[(i + 1) % 2], "correct": i < right,
             "prompt_version": "zs-v1", "calls": 1, "fresh_calls": 0, "fresh_latency_s": 0, "latency_s": 1.0,
             "prompt_tokens": 900, "completion_tokens": 2, "censored": 0, "how": "branch", "raw": "", "reply": ""}
            for i in range(n)]


def _write_results(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _chapter_record(executed: Path, rows: list[dict]) -> None:
    folder = executed / "provenance"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"kind": "summary", "notebook": "04_cnn_classification", "name": "summary", "time": "t",
              "git_commit": "c", "extra": {"headline": rows}}
    (folder / "04_cnn_classification.json").write_text(json.dumps([record]))


def test_the_page_is_rebuilt_from_the_results_files(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    results = _write_results(tmp_path / "zs" / "results.jsonl", _zeroshot_rows(40, 20))
    _chapter_record(executed, [{"id": "cnn:llm-genre", "dataset": "d", "finding": "CNN genre", "value": 0.9,
                                "low": 0.85, "high": 0.95, "n": 200, "chance": "uniform 0.077"}])
    first = [p.read_text() for p in C.write_claims(executed, {"d": results})]
    assert "0.500" in first[0] and "0.900 [0.850, 0.950] (n=200)" in first[0]
    row = next(line for line in first[0].splitlines() if line.startswith("| A CNN trained only on LLM-MIDI classifies genre"))
    assert f"**{SUPPORTED}**" in row
    assert "| claim |" in first[1] and SUPPORTED in first[1]

    _write_results(results, _zeroshot_rows(40, 38))  # the results file changes: the page follows
    second = [p.read_text() for p in C.write_claims(executed, {"d": results})]
    assert second[0] != first[0] and "0.950" in second[0]


def test_a_run_at_size_replaces_the_small_run_and_the_human_run_holds_for_every_dataset(tmp_path):
    small = _write_results(tmp_path / "small.jsonl", _zeroshot_rows(20, 10))
    at_size = _write_results(tmp_path / "d" / "results.jsonl", _zeroshot_rows(300, 60))
    human = _write_results(tmp_path / "human" / "results.jsonl", _zeroshot_rows(500, 100, task="human-folder"))
    figures = C.collect(tmp_path / "none", {"d": [small, at_size, human], "e": [small, human]}, tmp_path / "no-repeats")
    genre = figures[("zeroshot:llm-genre", "d")]
    assert (genre.n, round(genre.value, 3)) == (300, 0.2)
    assert figures[("zeroshot:human-folder", "d")].n == figures[("zeroshot:human-folder", "e")].n == 500
    assert ("zeroshot:llm-genre", "e") not in figures  # the small run was made on d, not on e
    missing = C.collect(tmp_path / "none", {"d": [small, tmp_path / "absent.jsonl"]}, tmp_path / "no-repeats")
    assert missing[("zeroshot:llm-genre", "d")].n == 20  # a run not made yet adds nothing


def test_llm_midi_rows_count_only_for_the_dataset_they_name(tmp_path):
    rows = _zeroshot_rows(40, 30, dataset="data/llm-midi/d") + _zeroshot_rows(60, 6, dataset="data/llm-midi/e")
    unnamed = [{k: v for k, v in r.items() if k != "dataset"} for r in _zeroshot_rows(10, 10)]
    mixed = _write_results(tmp_path / "mixed.jsonl", rows + unnamed + _zeroshot_rows(50, 25, task="human-folder"))
    figures = C.collect(tmp_path / "none", {"d": [mixed], "e": [mixed]}, tmp_path / "no-repeats")
    assert (figures[("zeroshot:llm-genre", "d")].n, figures[("zeroshot:llm-genre", "d")].value) == (40, 0.75)
    assert (figures[("zeroshot:llm-genre", "e")].n, figures[("zeroshot:llm-genre", "e")].value) == (60, 0.1)
    assert figures[("zeroshot:human-folder", "d")].n == figures[("zeroshot:human-folder", "e")].n == 50


def test_the_default_results_files_put_the_runs_at_size_after_the_small_run():
    from llmmusic.experiments.zeroshot import DEFAULT_DIR, current_results

    files = C.zeroshot_results()
    assert set(files) == set(C.DATASETS)
    for label, paths in files.items():
        assert paths == [current_results(), DEFAULT_DIR / label / "results.jsonl", DEFAULT_DIR / "human" / "results.jsonl"]


def test_a_fixture_dataset_is_refused(tmp_path):
    fixture = tmp_path / "scale"
    fixture.mkdir()
    (fixture / "dataset.json").write_text(json.dumps({"fixture": True}))
    with pytest.raises(ValueError, match="scale fixture"):
        C.collect(tmp_path / "none", {str(fixture): tmp_path / "results.jsonl"})


def test_a_missing_figure_is_shown_as_missing_beside_the_ones_measured():
    claim = next(c for c in C.CLAIMS if c.id == "cnn-style-vs-published")
    page = C.claims_markdown([C.judge(claim, "d", {})])
    assert "cnn:llm-style: not measured yet; published:MusicBERT-base/style: 0.645" in page and MISSING in page


def _repeats_file(folder: Path, dataset: str, correct: list[int], n: int = 100) -> Path:
    path = folder / dataset / "cnn.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"kind": "cnn", "seed": s, "params": {"dataset": dataset}, "seconds": 1.0,
             "metrics": {"cnn:llm-genre": {"measure": "accuracy", "value": k / n, "n": n, "low": None, "high": None,
                                           "chance": 1 / 13, "correct": k}}} for s, k in enumerate(correct)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_repeats_over_seeds_replace_the_single_run_with_the_pooled_interval(tmp_path):
    executed, repeats_dir = tmp_path / "executed", tmp_path / "repeats"
    executed.mkdir()
    results = _write_results(tmp_path / "zs" / "results.jsonl", _zeroshot_rows(40, 20))
    single = {"id": "cnn:llm-genre", "dataset": "d", "finding": "CNN genre", "value": 0.079, "low": 0.032,
              "high": 0.127, "n": 126, "chance": 1 / 13}
    _chapter_record(executed, [single])
    claim = next(c for c in C.CLAIMS if c.id == "cnn-genre-above-chance")

    one_run = C.collect(executed, {"d": results}, repeats_dir)
    assert one_run[("cnn:llm-genre", "d")].seeds is None
    assert C.judge(claim, "d", one_run).verdict == NOT_SUPPORTED  # narrow enough, overlapping chance

    _repeats_file(repeats_dir, "d", [10, 12, 9, 11, 13])  # 55 of 500 items over 5 seeds
    pooled = C.collect(executed, {"d": results}, repeats_dir)[("cnn:llm-genre", "d")]
    assert pooled.value == pytest.approx(55 / 500) and pooled.n == 500 and pooled.seeds == 5
    assert pooled.lo < 0.11 < pooled.hi and pooled.half_width < 0.04 and pooled.chance == pytest.approx(1 / 13)
    assert pooled.text().endswith("(n=500, 5 seeds)")
    assert C.judge(claim, "d", {("cnn:llm-genre", "d"): pooled}).verdict == SUPPORTED  # the pooled interval decides

    page = C.write_claims(executed, {"d": results}, repeats_dir)[0].read_text()
    row = next(line for line in page.splitlines() if line.startswith("| The CNN trained on LLM-MIDI classifies held-out"))
    assert "(n=500, 5 seeds)" in row and f"**{SUPPORTED}**" in row and "pool the test items" in page
    assert "0.079" not in row  # the single run is replaced


def test_without_repeats_the_page_says_nothing_about_seeds(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    results = _write_results(tmp_path / "zs" / "results.jsonl", _zeroshot_rows(40, 20))
    page = C.write_claims(executed, {"d": results}, tmp_path / "no-repeats")[0].read_text()
    assert "seeds" not in page


def test_a_model_that_always_gives_one_answer_is_judged_against_the_majority_class(tmp_path):
    # human-folder: a uniform guess among the 13 asked genres scores ~0.19 on Jazz/Rock files, but answering
    # Rock to every file scores the Rock share, 0.5: that is no knowledge of the music
    rows = [{**r, "pred": "Rock", "correct": r["truth"] == "Rock"} for r in _zeroshot_rows(500, 0, task="human-folder")]
    results = _write_results(tmp_path / "human.jsonl", rows)
    fig = C.collect(tmp_path / "none", {"d": [results]}, tmp_path / "no-repeats")[("zeroshot:human-folder", "d")]
    assert fig.value == pytest.approx(0.5) and fig.chance == pytest.approx(0.5)
    claim = next(c for c in C.CLAIMS if c.id == "zs-human-above-chance")
    assert C.judge(claim, "d", {("zeroshot:human-folder", "d"): fig}).verdict == NOT_SUPPORTED


def test_each_claim_names_where_it_is_shown_linked_when_the_build_made_it(tmp_path):
    executed = tmp_path / "executed"
    results = _write_results(tmp_path / "zs" / "results.jsonl", _zeroshot_rows(40, 20))
    folder = executed / "provenance"
    folder.mkdir(parents=True)
    (folder / "03_zero_shot.json").write_text(json.dumps([{"kind": "table", "notebook": "03_zero_shot",
                                                             "name": "at_size"}]))
    page = C.write_claims(executed, {"d": results})[0].read_text()
    line = next(x for x in page.splitlines() if x.startswith("- *Zero-shot, the LLM names the genre"))
    assert '<a href="executed/03_zero_shot.html#prov-at_size">table <code>at_size</code></a> (chapter 03)' in line
    assert "`answer_concentration` (chapter 03, not in this build)" in line
    assert f"Figures from zero-shot score answers, {results}" in line and "Re-test: `llmmusic zeroshot run" in line
