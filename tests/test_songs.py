"""What a run makes (llmmusic.generation.songs): its songs, their order and seeds, and its configuration checks."""

from __future__ import annotations

import json

import pytest

from llmmusic.data.dataset import load_manifest, pick_dataset
from llmmusic.data.taxonomy import MOODS, get_taxonomy, paper_temperature
from llmmusic.errors import UserError
from llmmusic.generation.songs import GenerateConfig, Song, diagonal_order, pilot_pairs, plan_songs, song_seed


def test_diagonal_order_pairs_genre_i_with_style_i_plus_d():
    assert diagonal_order(["a", "b"], ["x", "y", "z"]) == [("a", "x"), ("b", "y"), ("a", "y"), ("b", "z"),
                                                           ("a", "z"), ("b", "x")]
    # more genres than styles: the pass walks the genres (every prefix still balanced)
    assert diagonal_order(["a", "b", "c"], ["x", "y"]) == [("a", "x"), ("b", "y"), ("b", "x"), ("c", "y"),
                                                           ("c", "x"), ("a", "y")]


def test_pilot_pairs_spread_each_genres_styles_evenly():
    styles = [f"s{k}" for k in range(5)]
    assert pilot_pairs(["a", "b"], styles, 2) == [("a", "s0"), ("b", "s2"), ("a", "s1"), ("b", "s3")]
    assert pilot_pairs(["a", "b", "c"], styles, 2)[2:] == [("c", "s4"), ("a", "s1"), ("b", "s3"), ("c", "s0")]


def test_the_pilot_is_song_zero_of_the_pilot_pairs(tmp_path):
    config = GenerateConfig(out=tmp_path, pilot=6, genres=["Jazz", "Rock"])
    tax = get_taxonomy("paper")
    songs = plan_songs(config)
    genres = [g for g in tax.genres if g in ("Jazz", "Rock")]  # the taxonomy's order
    assert [(s.genre, s.style) for s in songs] == pilot_pairs(genres, list(tax.styles), 6) and len(songs) == 12
    assert songs == [config.song(s.genre, s.style, 0) for s in songs] and {s.index for s in songs} == {0}


def test_a_songs_seed_mood_and_temperature_are_those_of_the_committed_dataset():
    folder = pick_dataset()
    if folder is None:
        pytest.skip("no committed dataset")
    config = GenerateConfig.from_dataset(folder)
    rows = load_manifest(folder)
    for row in rows.head(40).itertuples(index=False):
        song = config.song(row.genre, row.style, int(row.index))
        assert song.attempt_seed(int(row.attempt)) == row.seed and song.mood == row.mood
        assert song.temperature == row.temperature == paper_temperature(int(row.index))
    assert song_seed(0, "Jazz", "Bossa Nova", 0) != song_seed(0, "Jazz", "Bossa Nova", 1) != song_seed(1, "Jazz", "Bossa Nova", 1)


def test_attempt_seeds_stay_below_two_to_the_31_and_differ_per_attempt():
    song = Song("a", "b", 0, MOODS[0], 0.5, 2**31 - 2)
    assert song.attempt_seed(0) == 2**31 - 2 and song.attempt_seed(1) == (2**31 - 2 + 7919) - (2**31 - 1)
    assert all(0 <= song.attempt_seed(a) < 2**31 - 1 for a in range(10))
    assert len({song.attempt_seed(a) for a in range(5)}) == 5


@pytest.mark.parametrize("field, value", [("per_combination", 0), ("max_attempts", -1), ("limit", 1.5), ("pilot", 0)])
def test_counts_must_be_positive_integers(tmp_path, field, value):
    with pytest.raises(UserError, match=f"^{field} must be a positive integer, got {value!r}$"):
        GenerateConfig(out=tmp_path, **{field: value})


def test_labels_and_decoding_are_checked_by_name(tmp_path):
    with pytest.raises(UserError, match=r"^decoding must be one of \('schema', 'free'\), got 'json'$"):
        GenerateConfig(out=tmp_path, decoding="json")
    with pytest.raises(UserError, match=r"^unknown genre\(s\) \['Polka'\] for taxonomy 'paper'"):
        GenerateConfig(out=tmp_path, genres=["Polka"])
    with pytest.raises(UserError, match=r"^unknown style\(s\) \['Loud'\]"):
        GenerateConfig(out=tmp_path, styles=["Loud"])
    with pytest.raises(UserError, match="^an empty list of genres selects nothing; give None for all$"):
        GenerateConfig(out=tmp_path, genres=[])
    with pytest.raises(UserError, match="^an empty list of styles selects nothing"):
        GenerateConfig(out=tmp_path, styles=[])
    assert GenerateConfig(out=tmp_path, genres=None, styles=["Waltz"]).styles == ["Waltz"]


def test_max_tokens_defaults_to_the_variants_and_an_explicit_one_is_kept(tmp_path):
    assert GenerateConfig(out=tmp_path).max_tokens == 1200  # the paper's budget
    assert GenerateConfig(out=tmp_path, variant="plan").max_tokens not in (None, 1200)
    assert GenerateConfig(out=tmp_path, variant="plan", max_tokens=77).max_tokens == 77


def test_from_dataset_reads_the_recorded_run_and_takes_overrides(tmp_path):
    with pytest.raises(UserError, match="dataset.json: no such file"):
        GenerateConfig.from_dataset(tmp_path)
    recorded = {"taxonomy": "paper", "variant": "plan", "decoding": "schema", "max_attempts": 3, "max_tokens": 900,
                "top_p": 0.9, "repeat_penalty": 1.1, "seed": 5, "writer": "exact", "per_combination": 7}
    (tmp_path / "dataset.json").write_text(json.dumps(recorded))
    config = GenerateConfig.from_dataset(tmp_path)
    assert config.out == tmp_path and config.defining() == {k: v for k, v in recorded.items() if k != "per_combination"}
    assert config.per_combination != 7  # not a defining parameter: a run may grow the dataset
    assert GenerateConfig.from_dataset(tmp_path, seed=9, limit=2).seed == 9
