"""Tests of llmmusic.book.provenance: input hashes, records, regeneration commands, stamps."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from llmmusic import __version__# noqa: E402
from llmmusic.book.provenance import (  # noqa: E402
    Provenance,
    git_state,
    hash_input,
    load_records,
    param_args,
    parse_param_value,
    regenerate_commands,
    stamp_html,
)


def test_hash_input_file_manifest_listing_missing(tmp_path: Path) -> None:
    data = tmp_path / "a.bin"
    data.write_bytes(b"hello midi")
    rec = hash_input(data)
    assert rec["method"] == "file"
    assert rec["sha256"] == hashlib.sha256(b"hello midi").hexdigest()
    assert rec["bytes"] == 10

    dataset = tmp_path / "ds"
    (dataset / "midi").mkdir(parents=True)
    (dataset / "manifest.jsonl").write_text('{"genre": "Jazz"}\n')
    (dataset / "midi" / "x.mid").write_bytes(b"MThd")
    rec = hash_input(dataset)
    assert rec["method"] == "manifest"
    assert rec["sha256"] == hashlib.sha256(b'{"genre": "Jazz"}\n').hexdigest()

    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "b.txt").write_text("abc")
    rec = hash_input(folder)
    assert rec["method"] == "listing"
    assert rec["sha256"] == hashlib.sha256(b"b.txt\t3\n").hexdigest()
    (folder / "b.txt").write_text("abcd")  # a changed file changes the listing hash
    assert hash_input(folder)["sha256"] != rec["sha256"]

    assert hash_input(tmp_path / "nope")["method"] == "missing"
    assert hash_input(None) == {"path": None, "method": "missing", "sha256": None, "bytes": None}


def test_param_args_round_trip_through_papermill_parsing() -> None:
    params = {"n_pieces": 4, "rate": 0.5, "flag": True, "dataset": None, "name": "abc", "code": "01",
              "genres": ["Jazz", "Pop"], "opts": {"a": 1}}
    args = param_args(params)
    parsed = {}
    i = 0
    while i < len(args):
        if args[i] == "-y":
            parsed.update(yaml.safe_load(args[i + 1]))
            i += 2
        elif args[i] == "-r":
            parsed[args[i + 1]] = args[i + 2]
            i += 3
        else:
            parsed[args[i + 1]] = parse_param_value(args[i + 2])
            i += 3
    assert parsed == params
    assert args[args.index("code") - 1] == "-r"  # "01" would otherwise become the int 1


def test_parse_param_value_like_papermill() -> None:
    assert parse_param_value("4") == 4
    assert parse_param_value("0.25") == 0.25
    assert parse_param_value("True") is True
    assert parse_param_value("None") is None
    assert parse_param_value("data/llm-midi/demo") == "data/llm-midi/demo"
    assert parse_param_value("[1, 2]") == [1, 2]
    assert parse_param_value('{"a": "b"}') == {"a": "b"}


def test_regenerate_commands_exact() -> None:
    cmds = regenerate_commands("02_dataset_statistics", {"n_pieces": 8, "dataset": "data/llm-midi/demo",
                                                         "genres": ["Jazz"]})
    assert cmds["papermill"] == ("papermill notebooks/02_dataset_statistics.ipynb out.ipynb -p n_pieces 8 "
                                 "-p dataset data/llm-midi/demo -y 'genres: [\"Jazz\"]'")
    assert cmds["book"] == ("llmmusic book --chapter 02 -p n_pieces 8 -p dataset data/llm-midi/demo "
                            "-p genres '[\"Jazz\"]'")
    assert shlex.split(cmds["book"])[-1] == '["Jazz"]'


def test_git_state_inside_and_outside_a_checkout(tmp_path: Path) -> None:
    state = git_state()
    if state["commit"] is None:
        pytest.skip("the project is not a git checkout here")
    assert re.fullmatch(r"[0-9a-f]{40}", state["commit"])
    assert isinstance(state["dirty"], bool)
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_figure_and_table_records(tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    dataset.mkdir()
    (dataset / "manifest.jsonl").write_text("{}\n")
    llm = {"model": "qwen2.5-coder-1.5b@abc", "endpoint": "embedded"}
    prov = Provenance("01_prompt_design", {"n_pieces": 3, "dataset": dataset}, inputs={"dataset": dataset},
                      llm=llm, out_dir=tmp_path / "executed", show=False)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    rec = prov.figure(fig, "line", caption="A falling line.")
    assert rec.files == ["media/01_prompt_design/line.png", "media/01_prompt_design/line.svg"]
    png = tmp_path / "executed" / rec.files[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "executed" / rec.files[1]).read_text().lstrip().startswith("<?xml")
    assert not plt.fignum_exists(fig.number)  # closed: shown once

    df = pd.DataFrame({"genre": ["Jazz", "Pop"], "n": [2, 5]})
    rec_t = prov.table(df, "counts", caption="Counts.")
    assert pd.read_csv(tmp_path / "executed" / rec_t.files[0], index_col=0).equals(df)
    with pytest.raises(ValueError, match="used twice"):
        prov.table(df, "counts")
    with pytest.raises(ValueError, match="file-name stem"):
        prov.table(df, "two words")

    stored = json.loads((tmp_path / "executed" / "provenance" / "01_prompt_design.json").read_text())
    assert [r["name"] for r in stored] == ["line", "counts"]
    first = stored[0]
    assert first["notebook"] == "01_prompt_design" and first["kind"] == "figure"
    assert first["params"]["n_pieces"] == 3
    assert first["inputs"]["dataset"]["sha256"] == hashlib.sha256(b"{}\n").hexdigest()
    assert first["inputs"]["dataset"]["method"] == "manifest"
    assert first["llm"] == llm
    assert first["package_version"] == __version__
    assert first["commands"]["papermill"].startswith("papermill notebooks/01_prompt_design.ipynb out.ipynb -p n_pieces 3")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", first["time"])
    assert load_records(tmp_path / "executed") == stored

    # a new run of the notebook starts its records and files afresh
    Provenance("01_prompt_design", {}, out_dir=tmp_path / "executed", show=False)
    assert load_records(tmp_path / "executed") == []
    assert not png.exists()


def test_stamp_html_holds_the_record(tmp_path: Path) -> None:
    prov = Provenance("03_zero_shot", {"k": 1}, out_dir=tmp_path, show=False)
    fig, _ = plt.subplots()
    rec = prov.figure(fig, "empty")
    html = stamp_html(rec)
    assert html.startswith('<div class="provenance" data-notebook="03_zero_shot" data-name="empty">')
    assert 'href="media/03_zero_shot/empty.png"' in html
    assert "papermill notebooks/03_zero_shot.ipynb out.ipynb -p k 1" in html
    if rec.git_commit:
        assert rec.git_commit[:10] in html


def test_bad_notebook_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chapter id"):
        Provenance("notebooks/01_x", {}, out_dir=tmp_path, show=False)


def test_notebook_parameters_are_the_parameters_cell_with_current_values(tmp_path: Path) -> None:
    from llmmusic.book.provenance import notebook_parameters

    source = tmp_path / "07_demo.py"
    source.write_text('# %% tags=["parameters"]\nn = 3  # pieces (n = 3 by default)\nname: str = "x"\n\n'
                      '# %%\nm = n * 2\n')
    assert notebook_parameters("07_demo", {"n": 5, "name": "y", "m": 10}, path=source) == {"n": 5, "name": "y"}
    with pytest.raises(ValueError, match=r"\['name'\]"):
        notebook_parameters("07_demo", {"n": 5}, path=source)


def test_provenance_in_a_running_notebook_records_its_injected_parameters(tmp_path: Path) -> None:
    from llmmusic.book.notebook import Notebook
    from llmmusic.book.runner import execute

    source = tmp_path / "07_demo.py"
    out_dir = tmp_path / "executed"
    source.write_text('# %% tags=["parameters"]\nn = 3\nlabel = "a"\n\n'
                      '# %%\nfrom llmmusic.book.provenance import Provenance\n'
                      f'prov = Provenance("07_demo", out_dir={str(out_dir)!r}, show=False)\n'
                      'prov.summary(["one line"])\n')
    run = execute(Notebook("07", "07_demo", source), tmp_path / "ran.ipynb", {"n": 4})
    assert run.error is None, run.error
    (record,) = json.loads((out_dir / "provenance" / "07_demo.json").read_text())
    assert record["params"] == {"n": 4, "label": "a"}  # the injected value and the default, in the cell's order
    assert record["commands"] == regenerate_commands("07_demo", {"n": 4, "label": "a"})
