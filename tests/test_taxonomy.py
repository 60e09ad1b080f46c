from llmmusic.data import taxonomy as tx


def test_paper_grid_is_13_by_25():
    tax = tx.get_taxonomy("paper")
    assert len(tax.genres) == 13 and len(tax.styles) == 25
    assert len(tax.combinations()) == 325
    assert len(set(tax.combinations())) == 325


def test_lakh_taxonomy_uses_real_labels():
    tax = tx.get_taxonomy("lakh")
    assert "Pop_Rock" in tax.genres and "Rock_Neo_Psychedelia" in tax.styles
    assert len(tax.genres) == 13 and len(tax.styles) == 25


def test_temperature_schedule_matches_paper():
    assert [tx.paper_temperature(i) for i in (0, 1, 9, 10, 23)] == [0.6, 0.64, 0.96, 0.6, 0.72]


def test_mappings_cover_every_paper_genre():
    assert set(tx.PAPER_TO_TOPMAGD) == set(tx.PAPER_GENRES)
    assert set(tx.PAPER_TO_FOLDER) == set(tx.PAPER_GENRES)
    assert {v for v in tx.PAPER_TO_TOPMAGD.values() if v} <= set(tx.TOPMAGD_GENRES)
    assert {v for v in tx.PAPER_TO_FOLDER.values() if v} == set(tx.FOLDER_GENRES)


def test_unknown_taxonomy_names_choices():
    try:
        tx.get_taxonomy("nope")
    except ValueError as exc:
        assert "paper" in str(exc) and "lakh" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_label_slug():
    assert tx.label_slug("Bossa Nova") == "bossa-nova"
    assert tx.label_slug("Pop_Rock") == "pop-rock"
    assert tx.label_slug("Hip-Hop") == "hip-hop"
