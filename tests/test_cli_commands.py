"""The ``zeroshot``, ``melody``, ``dataset`` and ``serve`` commands, end to end with no model: the committed
zero-shot cache, a local OpenAI-compatible endpoint, the committed datasets, and a stand-in for the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmmusic.experiments import zeroshot as Z
from llmmusic.cli import main
from llmmusic.data.dataset import FREE_DATASET, load_manifest, valid_rows
from llm_stub import StubLLM

REPO = Path(__file__).resolve().parents[1]


def _refused(argv: list[str], capsys) -> str:
    """argparse refuses ``argv`` (exit 2); its message."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


# ------------------------------------------------------------------------------------------- zeroshot
def _zs(copy) -> list[str]:
    """The options naming the scratch copy of the committed zero-shot run (conftest's ``zeroshot_copy``)."""
    return ["--cache", str(copy.folder / "cache.sqlite"), "--dataset", str(copy.dataset), "--pin", str(copy.pin)]


def test_zeroshot_run_from_the_committed_cache_writes_the_committed_results(zeroshot_copy, capsys):
    out = zeroshot_copy.folder / "results.jsonl"
    assert main(["zeroshot", "run", "--cache-only", *_zs(zeroshot_copy), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert '"calls": 0' in printed
    committed = Z.read_result_rows(Z.DEFAULT_DIR / "results.jsonl")
    ran = {row["source"] for row in Z.read_result_rows(out)}
    if ran == {row["source"] for row in committed}:  # every set ran (the human MIDI is here): the same file
        assert out.read_bytes() == (Z.DEFAULT_DIR / "results.jsonl").read_bytes()
    else:
        assert "llm-midi" in ran and "skipped" in printed
        assert Z.read_result_rows(out) == [r for r in committed if r["source"] in ran]
    assert main(["zeroshot", "summary", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "llm-genre" in summary and "llm-style" in summary and '"fresh_calls": 0' in summary


def test_zeroshot_run_keeps_the_rows_of_sets_it_did_not_run(zeroshot_copy, capsys):
    out = zeroshot_copy.folder / "results.jsonl"
    kept = {"source": "human-folder", "task": "human-folder", "mode": "free", "id": "x", "truth": "Rock",
            "pred": "Rock", "raw": "Rock", "correct": True, "calls": 1, "fresh_calls": 0}
    out.write_text(json.dumps(kept) + "\n")
    assert main(["zeroshot", "run", "--sets", "llm-midi", "--n-llm-midi", "2", "--modes", "free", "--cache-only",
                 *_zs(zeroshot_copy), "--out", str(out)]) == 0
    rows = Z.read_result_rows(out)
    assert rows[0] == kept and [(r["source"], r["mode"]) for r in rows[1:]] == [("llm-midi", "free")] * 4
    assert "4 new rows for ['llm-midi'], 1 kept" in capsys.readouterr().out


def test_zeroshot_free_text_on_a_subset_and_scores_on_every_piece(zeroshot_copy, capsys):
    out = zeroshot_copy.folder / "results.jsonl"
    assert main(["zeroshot", "run", "--sets", "llm-midi", "--n-llm-midi", "3", "--modes", "free,score", "--n-free", "1",
                 "--cache-only", *_zs(zeroshot_copy), "--out", str(out)]) == 0
    modes = [r["mode"] for r in Z.read_result_rows(out)]
    assert modes.count("free") == 2 and modes.count("score") == 6  # 2 questions: 1 piece free, 3 scored


def test_zeroshot_run_on_a_user_folder_through_a_local_endpoint(tmp_path, capsys):
    from llmmusic.data.midi import piece_to_midi
    from llmmusic.data.piece import Note, Piece

    folder = tmp_path / "mine"
    for label, low in (("Jazz", 60), ("Rock", 40)):
        (folder / label).mkdir(parents=True)
        piece_to_midi(Piece(melody=[Note(low + k, 480, 90, 480 * k) for k in range(8)]), folder / label / "a.mid")
    (folder / "Rock" / "broken.mid").write_bytes(b"not a MIDI file")
    out = tmp_path / "results.jsonl"
    with StubLLM() as ep:  # answers Jazz (json mode: {"label": "Jazz"})
        assert main(["zeroshot", "run", "--sets", "user", "--user-folder", str(folder), "--modes", "free,json",
                     "--base-url", ep.base_url, "--model", "stub", "--cache", str(tmp_path / "c.sqlite"),
                     "--pin", str(tmp_path / "pin.json"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed and "broken.mid" in printed
    rows = Z.read_result_rows(out)
    assert sorted((r["truth"], r["mode"], r["pred"], r["correct"]) for r in rows) == [
        ("Jazz", "free", "Jazz", True), ("Jazz", "json", "Jazz", True),
        ("Rock", "free", "Jazz", False), ("Rock", "json", "Jazz", False)]
    assert len(ep.requests) == 4
    json_request = next(r["body"] for r in ep.requests if r["body"].get("response_format"))
    assert json_request["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == ["Jazz", "Rock"]
    assert main(["zeroshot", "summary", "--out", str(out)]) == 0
    assert "user" in capsys.readouterr().out


def test_zeroshot_arguments_are_checked_before_anything_runs(tmp_path, capsys):
    assert "unknown 'guess'" in _refused(["zeroshot", "run", "--modes", "free,guess"], capsys)
    assert "unknown 'mine'" in _refused(["zeroshot", "run", "--sets", "mine"], capsys)
    assert "unknown 'exam'; expected some of train, val, test" in _refused(
        ["zeroshot", "run", "--llm-split", "test,exam"], capsys)
    assert "no such folder" in _refused(["zeroshot", "run", "--dataset", str(tmp_path / "none")], capsys)
    _refused(["zeroshot", "explain"], capsys)
    out = tmp_path / "results.jsonl"
    assert main(["zeroshot", "run", "--sets", "user", "--cache-only", "--out", str(out)]) == 1
    assert "--user-folder" in capsys.readouterr().err and not out.exists()
    assert main(["zeroshot", "summary", "--out", str(out)]) == 1
    assert "no results file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- melody
def test_melody_train_then_eval_on_the_committed_dataset(tmp_path, monkeypatch, capsys):
    from llmmusic.data.dataset import DEFAULT_DATASET

    if not (DEFAULT_DATASET / "manifest.jsonl").exists():
        pytest.skip("no committed dataset")
    monkeypatch.setenv("LLMMUSIC_HOME", str(tmp_path / "home"))
    tiny = ["--d-model", "16", "--layers", "1", "--heads", "2", "--max-len", "64", "--batch-size", "16"]
    assert main(["melody", "train", "--llm-limit", "60", "--epochs", "1", *tiny]) == 0
    printed = capsys.readouterr().out
    trained = json.loads(printed[printed.index("{\n"):])  # after one JSON line per epoch
    checkpoint = tmp_path / "home" / "models" / "melody-llm-midi.pt"  # the default place, in the package home
    assert trained["checkpoint"] == str(checkpoint) and checkpoint.is_file()
    assert trained["best_epoch"] == 1 and trained["parameters"] > 0 and trained["train_sequences"] > 0
    out = tmp_path / "eval.json"
    assert main(["melody", "eval", "--corpora", "llm-midi", "--queries", "10", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["train_corpus"] == "llm-midi" and result["data"]["llm_limit"] == 60
    ranking = {(r["model"], r["scoring"]): r for r in result["ranking"]}
    assert {("transformer", "sum"), ("transformer", "mean"), ("bigram", "sum")} <= set(ranking)
    for row in result["ranking"]:
        assert 0 <= row["MAP"] <= 1 and 0 <= row["HITS@1"] <= row["HITS@5"] <= row["HITS@10"] <= 1
    assert ranking[("transformer", "sum")]["n_queries"] == 10


def test_melody_arguments_and_a_missing_checkpoint(tmp_path, capsys):
    assert "invalid choice" in _refused(["melody", "train", "--train-corpus", "lakh"], capsys)
    assert "positive integer" in _refused(["melody", "train", "--epochs", "0"], capsys)
    assert "[0, 1)" in _refused(["melody", "train", "--dropout", "1.5"], capsys)
    done = subprocess.run([sys.executable, "-m", "llmmusic.cli", "melody", "eval", "--model", str(tmp_path / "no.pt")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "no checkpoint" in done.stderr


# ------------------------------------------------------------------------------------------- dataset
@pytest.fixture
def free_copy(tmp_path: Path) -> Path:
    if not (FREE_DATASET / "manifest.jsonl").exists():
        pytest.skip(f"{FREE_DATASET} absent")
    copy = tmp_path / FREE_DATASET.name
    shutil.copytree(FREE_DATASET, copy)
    return copy


def test_dataset_summary_and_card(free_copy, capsys):
    from llmmusic.generation.card import dataset_summary

    assert main(["dataset", "summary", str(free_copy)]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = json.loads(json.dumps(dataset_summary(free_copy), default=str))
    assert printed == expected and printed["valid_pieces"] == len(valid_rows(load_manifest(free_copy))) > 0
    (free_copy / "DATASET.md").unlink()
    assert main(["dataset", "card", str(free_copy)]) == 0
    assert capsys.readouterr().out.strip() == str(free_copy / "DATASET.md")
    card = (free_copy / "DATASET.md").read_text()
    assert f"| valid pieces | {printed['valid_pieces']} |" in card
    assert f"| combinations covered | {printed['combinations_covered']} of 325 " in card
    assert f"llmmusic generate --out {free_copy}" in card


def test_dataset_arguments(tmp_path, capsys):
    assert "no such folder" in _refused(["dataset", "card", str(tmp_path / "none")], capsys)
    assert "invalid choice" in _refused(["dataset", "delete", str(tmp_path)], capsys)
    assert main(["dataset", "summary", str(tmp_path)]) == 1  # a folder that is no dataset: one line, no traceback
    err = capsys.readouterr().err
    assert err.startswith("llmmusic dataset: ") and "Traceback" not in err


# ------------------------------------------------------------------------------------------- serve
class FakeServer:
    """Stands in for EmbeddedServer: records how it was made, starts nothing, 'exits' at once."""

    made: list["FakeServer"] = []

    def __init__(self, model: str = "", parallel: int = 4, port: int | None = None, **kwargs) -> None:
        self.model, self.parallel, self.port, self.kwargs = model, parallel, port, kwargs
        self.stopped = False
        self.process = None
        FakeServer.made.append(self)

    def start(self, *args, **kwargs):
        from llmmusic.generation.server import ServerInfo

        class Exited:
            def poll(self) -> int:
                return 0

        self.process = Exited()
        return ServerInfo(base_url=f"http://127.0.0.1:{self.port or 8080}/v1", engine="llama-server",
                          model_key=self.model, model_sha256="0" * 64, parallel=self.parallel)

    def stop(self) -> None:
        self.stopped = True

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def test_serve_passes_its_options_to_the_server_and_stops_it(monkeypatch, capsys):
    import llmmusic.commands.serve as serve
    from llmmusic.generation.server import DEFAULT_MODEL

    FakeServer.made = []
    monkeypatch.setattr(serve, "EmbeddedServer", FakeServer)
    assert main(["serve", "--parallel", "2", "--port", "8123"]) == 0
    (server,) = FakeServer.made
    assert (server.model, server.parallel, server.port) == (DEFAULT_MODEL, 2, 8123) and server.stopped
    assert "http://127.0.0.1:8123/v1" in capsys.readouterr().out


def test_serve_arguments(capsys):
    assert "port 1-65535" in _refused(["serve", "--port", "70000"], capsys)
    assert "positive integer" in _refused(["serve", "--port", "0"], capsys)
    assert "positive integer" in _refused(["serve", "--parallel", "0"], capsys)
    assert "invalid choice" in _refused(["serve", "--model", "gpt-5"], capsys)
