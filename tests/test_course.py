"""The course: every lab runs offline with its tiny parameters, the autograder passes the reference
solutions and fails wrong answers with a message naming the part, the CLI commands work, and the book
hides or shows the solutions on one switch.

Labs run through papermill (as ``llmmusic lab`` runs them) with their solutions kept, so the solution
code runs too and its output is checked. The solutions switch is tested on a small Sphinx build of two
executed labs with the project's own ``_config.yml``.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest

from llmmusic import course
from llmmusic.book import ROOT, build_html, error_outputs, toc_files
from llmmusic.cli import main

LABS = {lab.key: lab for lab in course.discover_labs()}
#: Labs whose tiny run trains a model for a few steps (still under a minute each).
SLOW_LABS = {"lab4", "lab5"}
#: Wrong answers per autograded part: (code defining the answer, a fragment the failure message must hold).
WRONG: dict[str, list[tuple[str, str]]] = {
    "lab1.1": [("bars_allowed = 8", "expected 4")],
    "lab1.3": [
        ("""
         from dataclasses import replace
         from llmmusic.generation.prompts import PROMPT_VARIANTS
         def eight_bar_variant():
             p = PROMPT_VARIANTS["paper"]
             return replace(p, name="p8", version="p8-v1", bounds=replace(p.bounds, start_max=15360))
         """, "15120; got 15360"),
        ("""
         from dataclasses import replace
         from llmmusic.generation.prompts import PROMPT_VARIANTS
         def eight_bar_variant():
             p = PROMPT_VARIANTS["paper"]
             return replace(p, name="p8", bounds=replace(p.bounds, start_max=15120))
         """, "its own version id"),
        ("""
         from dataclasses import replace
         from llmmusic.generation.prompts import PROMPT_VARIANTS
         def eight_bar_variant():
             return replace(PROMPT_VARIANTS["corrected"], name="p8", version="p8-v1")
         """, "chords_as_lists should stay"),
    ],
    "lab2.1": [("min_scale_consistency = 0.5", "expected 0.583333")],
    "lab2.3": [
        ("""
         def melodic_interval_mean(piece):
             p = [n.pitch for n in piece.melody]
             return sum(abs(b - a) for a, b in zip(p, p[1:])) / (len(p) - 1) if len(p) > 1 else float("nan")
         """, "stored out of order"),
        ("""
         def melodic_interval_mean(piece):
             p = [n.pitch for n in sorted(piece.melody, key=lambda n: (n.start, n.pitch))]
             return sum(b - a for a, b in zip(p, p[1:])) / (len(p) - 1) if len(p) > 1 else float("nan")
         """, "descending"),
        ("""
         def melodic_interval_mean(piece):
             p = [n.pitch for n in sorted(piece.melody, key=lambda n: (n.start, n.pitch))]
             return sum(abs(b - a) for a, b in zip(p, p[1:])) / (len(p) - 1) if len(p) > 1 else 0.0
         """, "one note: expected NaN"),
        ("""
         def melodic_interval_mean(piece):
             p = [n.pitch for n in sorted(piece.melody, key=lambda n: (n.start, n.pitch))]
             return str(sum(abs(b - a) for a, b in zip(p, p[1:])) / (len(p) - 1))
         """, "return a float, got str"),
    ],
    "lab3.1": [("chance_rock = 1 / 13", "expected 0.230769")],
    "lab3.3": [
        ("""
         def strict_answer(reply, labels):
             return next((l for l in labels if l.lower() in reply.lower()), "unparsed")
         """, "'I think Jazz'"),
        ("""
         def strict_answer(reply, labels):
             return next((l for l in labels if reply.strip() == l), "unparsed")
         """, "reply 'jazz'"),
        ("""
         def strict_answer(reply, labels):
             core = reply.strip().strip(".,;:!?*").lower()
             return core if core in [l.lower() for l in labels] else "unparsed"
         """, "expected 'Jazz', got 'jazz'"),
    ],
    "lab4.1": [("roll_values = 4 * 128 * 128 * 8", "expected 65536")],
    "lab4.3": [
        ("""
         import numpy as np
         def nearest_centroid_scores(train_x, train_y, test_x, labels):
             y = np.asarray(train_y)
             out = np.full((len(test_x), len(labels)), -np.inf)
             for j, lab in enumerate(labels):
                 if np.any(y == lab):
                     out[:, j] = -np.linalg.norm(np.asarray(test_x) - np.asarray(train_x)[y == lab].mean(0), axis=1)
             return out
         """, "standardise the features first"),
        ("""
         import numpy as np
         def nearest_centroid_scores(train_x, train_y, test_x, labels):
             train_x, test_x, y = np.asarray(train_x, float), np.asarray(test_x, float), np.asarray(train_y)
             m, s = train_x.mean(0), np.where(train_x.std(0) == 0, 1, train_x.std(0))
             out = np.zeros((len(test_x), len(labels)))
             for j, lab in enumerate(labels):
                 if np.any(y == lab):
                     out[:, j] = -np.linalg.norm((test_x - m) / s - ((train_x - m) / s)[y == lab].mean(0), axis=1)
             return out
         """, "should score -inf"),
        ("""
         import numpy as np
         def nearest_centroid_scores(train_x, train_y, test_x, labels):
             train_x, test_x, y = np.asarray(train_x, float), np.asarray(test_x, float), np.asarray(train_y)
             zt = (train_x - train_x.mean(0)) / np.where(train_x.std(0) == 0, 1, train_x.std(0))
             zs = (test_x - test_x.mean(0)) / np.where(test_x.std(0) == 0, 1, test_x.std(0))
             out = np.full((len(test_x), len(labels)), -np.inf)
             for j, lab in enumerate(labels):
                 if np.any(y == lab):
                     out[:, j] = -np.linalg.norm(zs - zt[y == lab].mean(0), axis=1)
             return out
         """, "test rows use the training mean"),
    ],
    "lab5.1": [("chance_map = 1 / 50", "expected 0.0899841")],
    "lab5.3": [
        ("""
         import numpy as np
         def context_unigram_log_probs(prefix, candidates, vocab_size, alpha=1.0):
             total = len(prefix) + alpha * vocab_size
             s = [sum(np.log((prefix.count(t) + alpha) / total) for t in c) / max(1, len(c)) for c in candidates]
             return np.array(s), np.array([len(c) for c in candidates])
         """, "summed log-probabilities should be"),
        ("""
         import numpy as np
         def context_unigram_log_probs(prefix, candidates, vocab_size, alpha=1.0):
             total = len(prefix) + vocab_size
             s = [sum(np.log((prefix.count(t) + 1) / total) for t in c) for c in candidates]
             return np.array(s), np.array([len(c) for c in candidates])
         """, "with alpha 0.5"),
        ("""
         import numpy as np
         def context_unigram_log_probs(prefix, candidates, vocab_size, alpha=1.0):
             total = len(prefix) + alpha * vocab_size
             return np.array([sum(np.log((prefix.count(t) + alpha) / total) for t in c) for c in candidates])
         """, "return a pair"),
    ],
}


#: A line each lab's executed solution must print (the numbers its checks rely on).
SOLUTION_OUTPUT = {
    "lab1": r"7680 ticks / 1920 ticks per bar = 4 bars",
    "lab2": r"7/12 = 0\.5833; chromatic scale: 0\.5833",
    "lab3": r"Rock\s+0\.231",
    "lab4": r"65536 values per roll \(array: 65536\)",
    "lab5": r"H_50 / 50 = 0\.0900; simulated random ranks: 0\.0[89]\d\d; llmmusic\.experiments\.melody\.chance_ranking\(\): 0\.0900",
}


def _lab_params() -> list:
    return [pytest.param(key, marks=[pytest.mark.slow] if key in SLOW_LABS else [], id=key) for key in sorted(LABS)]


def _parts() -> list[tuple[str, course.Part]]:
    return [(key, part) for key, lab in sorted(LABS.items()) if (course.CHECKS_DIR / f"{key}.py").is_file()
            for part in course.load_parts(lab)]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, course.LabRun]:
    """Labs run with their tiny parameters and solutions, on demand (each at most once per module)."""
    return {"_dir": tmp_path_factory.mktemp("labs")}  # type: ignore[dict-item]


def run_tiny(executed: dict, key: str) -> course.LabRun:
    if key not in executed:
        executed[key] = course.run_lab(LABS[key], out=executed["_dir"] / f"{LABS[key].name}.ipynb",
                                       solutions=True, tiny=True)
    return executed[key]


def needs_dataset() -> None:
    from llmmusic.data.dataset import pick_dataset

    if pick_dataset() is None:
        pytest.skip("no generated dataset under data/llm-midi (the labs read one)")


# ------------------------------------------------------------------------------------------------ labs
def test_every_lab_is_listed_with_checks_and_tiny_parameters() -> None:
    assert sorted(LABS) == [f"lab{n}" for n in range(1, 6)], f"one lab per experiment chapter; found {sorted(LABS)}"
    toc = toc_files(ROOT)
    for key, lab in LABS.items():
        assert f"course/labs/{lab.name}" in toc, f"{lab.name} is not in _toc.yml"
        assert lab.tiny_parameters(), f"{lab.name}: no llmmusic.tiny parameters in its header"
        assert set(lab.tiny_parameters()) <= set(course.declared_parameters(lab)), lab.name
        assert (course.CHECKS_DIR / f"{key}.py").is_file(), f"{key}: no autograder checks"
        nb = lab.read()
        assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
        exercises = [c for c in nb.cells if c.cell_type == "markdown" and "{exercise}" in c.source]
        assert len(exercises) >= 3, f"{lab.name}: {len(exercises)} exercises"
        assert course.sync_lab(lab) is False, f"{lab.paired} is out of date with {lab.source.name}"
    for page in ("course/intro", "course/instructor_guide"):
        assert page in toc and (ROOT / f"{page}.md").is_file()


@pytest.mark.parametrize("key", _lab_params())
def test_lab_runs_offline_with_its_figures_and_passing_solutions(executed: dict, key: str) -> None:
    needs_dataset()
    run = run_tiny(executed, key)
    assert run.error is None, run.error
    assert error_outputs(run.output) == []
    nb = nbformat.read(str(run.output), as_version=4)
    shows = sum(c.source.count("plt.show()") for c in nb.cells if c.cell_type == "code")
    assert course.image_outputs(run.output) >= min(shows, 3), "figures missing from the executed lab"
    report = course.cell_text(run.output, "check")
    n = len(course.load_parts(LABS[key]))
    assert f"{n}/{n} parts pass" in report, report
    solution_outputs = [o for c in nb.cells if "solution" in c.metadata.get("tags", []) for o in c.get("outputs", [])]
    assert solution_outputs, f"{key}: the solution cells printed or drew nothing"
    assert re.search(SOLUTION_OUTPUT[key], course.cell_text(run.output, "solution")), SOLUTION_OUTPUT[key]


def test_lab1_solutions_print_the_checked_numbers(executed: dict) -> None:
    needs_dataset()
    run = run_tiny(executed, "lab1")
    nb = nbformat.read(str(run.output), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if "solution" in c.metadata.get("tags", [])
                   for o in c.get("outputs", []))
    assert "7680 ticks / 1920 ticks per bar = 4 bars" in text
    assert "+- start_time: in ticks from 0 to 15120" in text
    assert "'maximum': 15120" in text


def test_lab2_solution_measures_the_scale_consistency_floor(executed: dict) -> None:
    needs_dataset()
    run = run_tiny(executed, "lab2")
    text = course.cell_text(run.output, "solution")
    assert "7/12 = 0.5833; chromatic scale: 0.5833" in text
    m = re.search(r"random 16-note melodies: ([0-9.]+)", text)
    assert m and 7 / 12 <= float(m.group(1)) <= 1.0


def test_student_copy_has_no_solutions_and_reports_todo(tmp_path: Path) -> None:
    needs_dataset()
    run = course.run_lab("lab1", out=tmp_path / "mine.ipynb", tiny=True)
    assert run.error is None, run.error
    nb = nbformat.read(str(run.output), as_version=4)
    assert not course.has_solutions(nb)
    assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
    assert any("answer" in c.metadata.get("tags", []) for c in nb.cells)
    report = course.cell_text(run.output, "check")
    assert "TODO  lab1.1" in report and "0/2 parts pass" in report


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(course.CourseError, match=r"\['n_epochs'\] are not declared"):
        course.run_lab("lab1", {"n_epochs": 2}, out="/nonexistent/never.ipynb")


def test_sample_pieces_spreads_over_genres() -> None:
    needs_dataset()
    from llmmusic.data.dataset import load_manifest, valid_rows
    from llmmusic.data.dataset import pick_dataset

    dataset = pick_dataset()
    genres = valid_rows(load_manifest(dataset))["genre"].unique()
    pieces = course.sample_pieces(dataset, 6)
    assert len(pieces) == min(6, len(valid_rows(load_manifest(dataset))))
    assert len({p.meta["genre"] for p in pieces}) == min(6, len(genres))


# ------------------------------------------------------------------------------------------------ autograder
@pytest.mark.parametrize(("key", "part"), _parts(), ids=[p.key for _, p in _parts()])
def test_reference_solution_passes(key: str, part: course.Part) -> None:
    namespace = course.answers_from_notebook(LABS[key].source, reference=True)
    result = course.grade(key, namespace, [part])[0]
    assert result.status == "pass", result.message


@pytest.mark.parametrize(("key", "part"), _parts(), ids=[p.key for _, p in _parts()])
def test_unanswered_skeleton_is_todo(key: str, part: course.Part) -> None:
    result = course.grade(key, course.answers_from_notebook(LABS[key].source), [part])[0]
    assert result.status == "missing" and "not answered yet" in result.message


def test_every_part_has_wrong_answers() -> None:
    assert {p.key for _, p in _parts()} == set(WRONG)


@pytest.mark.parametrize(("part_key", "code", "fragment"),
                         [(k, code, frag) for k, cases in WRONG.items() for code, frag in cases],
                         ids=[f"{k}-{i}" for k, cases in WRONG.items() for i in range(len(cases))])
def test_wrong_answer_fails_with_a_clear_message(tmp_path: Path, part_key: str, code: str, fragment: str) -> None:
    key = part_key.split(".")[0]
    module = tmp_path / "answers.py"
    module.write_text(textwrap.dedent(code))
    part = next(p for p in course.load_parts(key) if p.key == part_key)
    result = course.grade(key, course.answers_from_module(module), [part])[0]
    assert result.status == "fail", (result.status, result.message)
    assert fragment in result.message, result.message


def test_missing_name_and_raising_answer_are_reported(tmp_path: Path) -> None:
    module = tmp_path / "answers.py"
    module.write_text("def melodic_interval_mean(piece):\n    return 1 / 0\n")
    results = {r.key: r for r in course.grade("lab2", course.answers_from_module(module))}
    assert results["lab2.1"].status == "missing" and "`min_scale_consistency`" in results["lab2.1"].message
    assert results["lab2.3"].status == "error" and "ZeroDivisionError" in results["lab2.3"].message


def test_answers_from_a_notebook_use_answer_cells_and_definitions_only(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math\nraise SystemExit('lab work must not run')"),
        nbformat.v4.new_code_cell("def helper(p):\n    return [n.pitch for n in sorted(p.melody, key=lambda n: (n.start, n.pitch))]"),
        nbformat.v4.new_code_cell("min_scale_consistency = 7 / 12", metadata={"tags": ["answer"]}),
        nbformat.v4.new_code_cell(
            "def melodic_interval_mean(piece):\n    p = helper(piece)\n"
            "    return sum(abs(b - a) for a, b in zip(p, p[1:])) / (len(p) - 1) if len(p) > 1 else math.nan",
            metadata={"tags": ["answer"]}),
        nbformat.v4.new_code_cell("min_scale_consistency = 0.1", metadata={"tags": ["solution", "reference"]}),
    ]
    path = tmp_path / "mine.ipynb"
    nbformat.write(nb, str(path))
    results = course.grade("lab2", course.answers_from_notebook(path))
    assert [r.status for r in results] == ["pass", "pass"], [r.message for r in results]


# ------------------------------------------------------------------------------------------------ CLI
def test_check_command_exit_status_and_messages(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text("bars_allowed = 8\n")
    assert main(["check", "lab1", "--module", str(wrong)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  lab1.1" in out and "expected 4, got 8" in out and "TODO  lab1.3" in out and "0/2 parts pass" in out
    assert main(["check", "1", "--reference"]) == 0
    assert "2/2 parts pass" in capsys.readouterr().out
    assert main(["check", "lab1", "--notebook", str(tmp_path / "absent.ipynb")]) == 2
    assert main(["check", "lab9"]) == 2
    assert "no lab 'lab9'" in capsys.readouterr().err


def test_lab_command_writes_the_students_notebook(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    needs_dataset()
    out = tmp_path / "mine" / "lab2.ipynb"
    assert main(["lab", "2", "--tiny", "-p", "metric", "note_density", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed and "llmmusic check lab2" in printed
    nb = nbformat.read(str(out), as_version=4)
    assert not course.has_solutions(nb)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "metric = \"note_density\"" in injected.source
    assert main(["check", "lab2", "--notebook", str(out)]) == 1  # unanswered
    assert main(["lab", "2", "-p", "nonsense", "1", "--out", str(out)]) == 2


# ------------------------------------------------------------------------------------------------ solutions switch
def test_strip_solutions_removes_gated_cells_and_blocks() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("```{exercise} x\n:label: ex\nQ\n```"),
        nbformat.v4.new_code_cell("answer = None", metadata={"tags": ["answer"]}),
        nbformat.v4.new_markdown_cell("````{solution-start} ex\n:class: dropdown\n````\nSECRET-1"),
        nbformat.v4.new_code_cell("SECRET_2 = 1"),
        nbformat.v4.new_markdown_cell("````{solution-end}\n````\n\n## After"),
        nbformat.v4.new_markdown_cell("Text\n\n```{solution} ex\nSECRET-3\n```\nkept"),
        nbformat.v4.new_code_cell("SECRET_4 = 2", metadata={"tags": ["solution"]}),
    ]
    stripped = course.strip_solutions(nb)
    text = "\n".join(c.source for c in stripped.cells)
    assert "SECRET" not in text and "answer = None" in text and "kept" in text and "{exercise}" in text
    assert course.has_solutions(nb) and not course.has_solutions(stripped)
    assert len(nb.cells) == 7  # the input is left alone


def test_solutions_mode_reads_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(course.SOLUTIONS_ENV, raising=False)
    assert course.solutions_mode() == "show"
    monkeypatch.setenv(course.SOLUTIONS_ENV, "HIDE")
    assert course.solutions_confoverrides() == {"hide_solutions": True}
    assert course.solutions_confoverrides("show") == {"hide_solutions": False}
    monkeypatch.setenv(course.SOLUTIONS_ENV, "maybe")
    with pytest.raises(ValueError, match="LLMMUSIC_SOLUTIONS='maybe'"):
        course.solutions_mode()


#: Text that only the solutions of labs 1 and 2 contain (markdown, code and outputs).
SOLUTION_MARKERS = ("arpeggios", "7680 ticks / 1920 ticks per bar = 4 bars", "gen-paper-8bars-v1",
                    "random 16-note melodies", "np.diff(pitches)", "Solution to")


def build_course_pages(executed: dict, dest: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The course pages of labs 1 and 2 (executed copies) built with the project's _config.yml."""
    dest.mkdir()
    shutil.copy(ROOT / "_config.yml", dest / "_config.yml")
    shutil.copytree(ROOT / "book", dest / "book", ignore=shutil.ignore_patterns("_build", "executed"))
    (dest / "course" / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "course" / "intro.md", dest / "course" / "intro.md")
    for key in ("lab1", "lab2"):
        run = run_tiny(executed, key)
        nb = nbformat.read(str(run.output), as_version=4)
        nb.metadata.pop("mystnb", None)  # already executed: the build must not run it again
        nbformat.write(nb, str(dest / "course" / "labs" / f"{LABS[key].name}.ipynb"))
        shutil.copy(LABS[key].source, dest / "course" / "labs" / LABS[key].source.name)
    (dest / "_toc.yml").write_text("format: jb-book\nroot: course/intro\nchapters:\n"
                                   + "".join(f"  - file: course/labs/{LABS[k].name}\n" for k in ("lab1", "lab2")))
    monkeypatch.setenv(course.SOLUTIONS_ENV, mode)
    build_html(dest, dest / "_build" / "html", quiet=True)
    return dest / "_build" / "html"


def built_text(html: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in html.rglob("*")
                     if p.is_file() and p.suffix in (".html", ".js", ".ipynb", ".py", ".txt"))


def test_book_hides_or_shows_solutions_on_one_switch(executed: dict, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    needs_dataset()
    hidden = build_course_pages(executed, tmp_path / "hide", "hide", monkeypatch)
    shown = build_course_pages(executed, tmp_path / "show", "show", monkeypatch)
    for html in (hidden, shown):
        page = (html / "course" / "labs" / "lab1_prompt_design.html").read_text(encoding="utf-8")
        assert page.count('class="exercise') >= 3 and "Exercise 1" in page
        assert "mybinder.org/v2/gh/" in page and "course/labs/lab1_prompt_design.ipynb" in page
        assert re.search(r'href="[^"]*_downloads/[^"]*/lab1_prompt_design\.py"', page)
        assert re.search(r'href="[^"]*_downloads/[^"]*/lab1_prompt_design\.ipynb"', page)
    text_hidden, text_shown = built_text(hidden), built_text(shown)
    for marker in SOLUTION_MARKERS:
        assert marker not in text_hidden, f"solution text {marker!r} in the build with solutions hidden"
        assert marker in text_shown, f"solution text {marker!r} missing from the build with solutions shown"
    assert "def melodic_interval_mean" in text_hidden  # the exercise's answer cell stays
    downloads = [p for p in (hidden / "_downloads").rglob("*.py")]
    assert downloads and all("tags=[\"solution" not in p.read_text() for p in downloads)


# ------------------------------------------------------------------------------------------------ guide
def test_guide_quotes_the_measured_lab_times() -> None:
    path = ROOT / "benchmarks" / "results" / "labs.json"
    if not path.is_file():
        pytest.skip("benchmarks/results/labs.json is not measured yet (run benchmarks/bench_labs.py)")
    measured = json.loads(path.read_text())
    assert sorted(measured["labs"]) == sorted(LABS), "the benchmark must time every lab"
    assert all(len(lab[form]["runs_s"]) >= 3 for lab in measured["labs"].values() for form in ("student", "with_solutions"))
    guide = (ROOT / "course" / "instructor_guide.md").read_text(encoding="utf-8")
    assert course.timing_table(path) in guide, "update the guide's table from course.timing_table()"
