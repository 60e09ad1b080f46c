"""Human-made corpora: shared data location, labels, POP909 melodies, music21 folk tunes."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pretty_midi
import pytest
from conftest import require_shared

from llmmusic.data import corpora
from llmmusic.data.piece import Note

PAPER_FOLDER_COUNTS = {"Classical": 178, "Country": 245, "Jazz": 211, "Pop": 256, "Rock": 226}


def _tiny_midi(path, pitches=(60, 62), tempo=100.0, names=("Piano",)):
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    beat = 60 / tempo
    for k, name in enumerate(names):
        inst = pretty_midi.Instrument(0, name=name)
        for i, p in enumerate(pitches):
            inst.notes.append(pretty_midi.Note(100, p + 12 * k, (i + 0.02) * beat, (i + 1) * beat))
        pm.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


def test_shared_data_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMMUSIC_SHARED_DATA", str(tmp_path))
    assert corpora.shared_data_dir() == tmp_path
    monkeypatch.setenv("LLMMUSIC_SHARED_DATA", str(tmp_path / "absent"))
    assert corpora.shared_data_dir() is None
    with pytest.raises(FileNotFoundError, match="LLMMUSIC_SHARED_DATA"):
        corpora.human_midi()


def test_human_midi_table_from_a_small_folder(tmp_path):
    base = tmp_path / "human-midi"
    base.mkdir()
    (base / "labels.csv").write_text("md5,folder_genre,topmagd,masd,source_name\n"
                                     "aa,Jazz,Jazz|Pop_Rock|Jazz,,x.mid\nbb,Rock,,,y.mid\n")
    for root in (tmp_path, base):  # the shared folder or the collection's own folder
        table = corpora.human_midi(root)
        assert list(table.columns) == ["path", "md5", "folder_genre", "topmagd", "masd", "source_name"]
        assert table.topmagd.tolist() == [["Jazz", "Pop_Rock"], []]
        assert table.masd.tolist() == [[], []]
        assert table.path[1] == str(base / "midi" / "bb.mid")


def test_human_midi_shared(shared_data):
    require_shared(shared_data, "human-midi", "labels.csv")
    table = corpora.human_midi()
    assert len(table) == 1116
    assert table.folder_genre.value_counts().to_dict() == PAPER_FOLDER_COUNTS
    assert (table.topmagd.str.len() > 0).sum() == 319 and (table.masd.str.len() > 0).sum() == 274
    assert table.md5.is_unique
    assert all(pd.io.common.file_exists(p) for p in table.path[:5])


def test_lakh_labels_are_normalised(tmp_path):
    path = tmp_path / "midi_genre_map.json"
    path.write_text(json.dumps({"topmagd": {"m1": ["Rap", "Jazz", "Rap"]}, "masd": {"m1": ["Jazz_Classic"]}}))
    assert corpora.lakh_labels(path) == {"topmagd": {"m1": ["Jazz", "Rap"]}, "masd": {"m1": ["Jazz_Classic"]}}
    assert corpora.lakh_labels(tmp_path) == corpora.lakh_labels(path)


def test_label_folder_by_md5(tmp_path):
    a = _tiny_midi(tmp_path / "lmd" / "x" / "a.mid")
    _tiny_midi(tmp_path / "lmd" / "b.midi", pitches=(70, 72))
    (tmp_path / "lmd" / "notes.txt").write_text("not MIDI")
    md5 = corpora._md5(a)
    labels = {"topmagd": {md5: ["Jazz"]}, "masd": {"ffff": ["Soul_Reggae"]}}
    table = corpora.label_folder_by_md5(tmp_path / "lmd", labels)
    assert table.to_dict("records") == [{"path": str(a), "md5": md5, "topmagd": ["Jazz"], "masd": [], "magd": []}]
    assert corpora.label_folder_by_md5(tmp_path / "lmd", {"topmagd": {}}).empty


def test_label_folder_by_md5_agrees_with_the_human_labels(shared_data, tmp_path):
    require_shared(shared_data, "lakh-genre-labels", "midi_genre_map.json")
    table = corpora.human_midi()
    labelled = table[table.masd.str.len() > 0].head(2)
    for row in labelled.itertuples():
        shutil.copy(row.path, tmp_path / f"copy_{row.Index}.mid")
    found = corpora.label_folder_by_md5(tmp_path)
    assert sorted(found.md5) == sorted(labelled.md5)
    merged = found.merge(labelled, on="md5", suffixes=("", "_csv"))
    assert (merged.topmagd == merged.topmagd_csv).all() and (merged.masd == merged.masd_csv).all()


def test_pop909_melodies_from_a_small_folder(tmp_path):
    _tiny_midi(tmp_path / "pop909" / "midi" / "001.mid", pitches=(72, 74, 76), tempo=75,
               names=("MELODY", "BRIDGE", "PIANO"))
    (piece,) = corpora.pop909_melodies(tmp_path)
    assert piece.meta == {"song": "001", "source": "pop909", "path": str(tmp_path / "pop909" / "midi" / "001.mid")}
    assert piece.melody == [Note(72, 480, 100, 0), Note(74, 480, 100, 480), Note(76, 480, 100, 960)]
    assert not piece.chords and not piece.bass and not piece.rhythm
    _tiny_midi(tmp_path / "pop909" / "midi" / "002.mid", names=("PIANO",))
    with pytest.raises(ValueError, match="002.mid: no instrument named MELODY"):
        corpora.pop909_melodies(tmp_path)


def test_pop909_melodies_shared(shared_data):
    require_shared(shared_data, "pop909", "midi")
    pieces = corpora.pop909_melodies(limit=2)
    assert [p.meta["song"] for p in pieces] == ["001", "002"]
    for piece in pieces:
        assert len(piece.melody) > 100 and piece.n_notes == len(piece.melody)
        assert all(n.start % 120 == 0 and n.duration >= 120 for n in piece.melody)


def test_music21_folk_parses_once_and_caches(tmp_path):
    pieces = corpora.music21_folk(limit=3, cache_dir=tmp_path)
    assert len(pieces) == 3
    first = pieces[0]
    assert first.meta == {"song": "essenFolksong/altdeu10/1", "collection": "essenFolksong",
                          "title": "Das Hildebrandslied", "source": "music21"}
    # "L:1/4 K:G  G2 | _B2B2c2c2": G4 for a half note, then B-flat
    assert first.melody[:2] == [Note(67, 960, 90, 0), Note(70, 960, 90, 960)]
    assert not first.chords and not first.bass and not first.rhythm
    cache = tmp_path / "essenFolksong" / "altdeu10.json"
    data = json.loads(cache.read_text())
    assert sorted(data["tunes"]) == ["1", "2", "3"]
    # the second call reads the cache: an edit there shows up
    data["tunes"]["1"]["notes"] = [[60, 480, 90, 0]]
    cache.write_text(json.dumps(data))
    again = corpora.music21_folk(limit=3, cache_dir=tmp_path)
    assert again[0].melody == [Note(60, 480, 90, 0)]
    assert [p.melody for p in again[1:]] == [p.melody for p in pieces[1:]]


def test_music21_folk_oneill(tmp_path):
    (tune,) = corpora.music21_folk(limit=1, cache_dir=tmp_path, collections=("oneills1850",))
    assert tune.meta["song"] == "oneills1850/0001-0050/1" and tune.meta["title"] == "The Enchanted Valley"
    assert len(tune.melody) > 50 and all(n.start % 120 == 0 for n in tune.melody)
