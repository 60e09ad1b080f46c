"""Label sets: the paper's prompt taxonomy, the real TOP-MAGD / MASD labels, and mappings.

Used in: notebooks/01_prompt_design.py, notebooks/03_zero_shot.py, notebooks/04_cnn.py.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The 13 "genres" of the paper's official generation script (its own list, not TOP-MAGD).
PAPER_GENRES: tuple[str, ...] = (
    "Pop", "Rock", "Jazz", "Classical", "Electronic", "Hip-Hop", "Country",
    "Blues", "Folk", "Reggae", "Metal", "Punk", "Ambient",
)

#: The 25 "styles" of the paper's official generation script (its own list, not MASD).
PAPER_STYLES: tuple[str, ...] = (
    "Baroque", "Romantic", "Modernist", "Minimalist", "Funky", "Groovy", "Swing",
    "Bossa Nova", "Waltz", "March", "Ballad", "Upbeat", "Chill", "Dark", "Bright",
    "Melodic", "Rhythmic", "Syncopated", "Bluesy", "Folky", "Reggaeton", "Grunge",
    "Industrial", "Trance", "Drone",
)

#: The five moods the paper draws from at random for each song.
MOODS: tuple[str, ...] = ("happy", "sad", "energetic", "calm", "mysterious")

#: The 13 real TOP-MAGD genres (Schindler et al. 2012), as labelled in the Lakh genre map.
TOPMAGD_GENRES: tuple[str, ...] = (
    "Pop_Rock", "Electronic", "Country", "RnB", "Jazz", "Latin", "International",
    "Rap", "Vocal", "New Age", "Folk", "Reggae", "Blues",
)

#: The 25 real MASD styles, as labelled in the Lakh genre map.
MASD_STYLES: tuple[str, ...] = (
    "Big_Band", "Blues_Contemporary", "Country_Traditional", "Dance", "Electronica",
    "Experimental", "Folk_International", "Gospel", "Grunge_Emo", "Hip_Hop_Rap",
    "Jazz_Classic", "Metal_Alternative", "Metal_Death", "Metal_Heavy",
    "Pop_Contemporary", "Pop_Indie", "Pop_Latin", "Punk", "Reggae", "RnB_Soul",
    "Rock_Alternative", "Rock_College", "Rock_Contemporary", "Rock_Hard",
    "Rock_Neo_Psychedelia",
)

#: The five folder genres of the human MIDI collection in ``shared/data/human-midi``.
FOLDER_GENRES: tuple[str, ...] = ("Classical", "Country", "Jazz", "Pop", "Rock")

#: Paper prompt genre -> TOP-MAGD genre. ``None``: no TOP-MAGD counterpart (Classical,
#: Ambient), so such a prediction can never match a TOP-MAGD label.
PAPER_TO_TOPMAGD: dict[str, str | None] = {
    "Pop": "Pop_Rock", "Rock": "Pop_Rock", "Metal": "Pop_Rock", "Punk": "Pop_Rock",
    "Jazz": "Jazz", "Electronic": "Electronic", "Hip-Hop": "Rap", "Country": "Country",
    "Blues": "Blues", "Folk": "Folk", "Reggae": "Reggae", "Ambient": "New Age",
    "Classical": None,
}

#: Paper prompt genre -> folder genre of the human MIDI collection. Genres with no
#: folder counterpart map to ``None`` (always wrong on that set).
PAPER_TO_FOLDER: dict[str, str | None] = {
    "Classical": "Classical", "Country": "Country", "Jazz": "Jazz", "Pop": "Pop",
    "Rock": "Rock", "Metal": "Rock", "Punk": "Rock", "Blues": "Jazz",
    "Electronic": None, "Hip-Hop": None, "Folk": None, "Reggae": None, "Ambient": None,
}


@dataclass(frozen=True)
class Taxonomy:
    """A genre x style grid to generate over.

    Attributes:
        name: ``paper`` (the official script's lists) or ``lakh`` (TOP-MAGD x MASD).
        genres: genre labels, in order.
        styles: style labels, in order.
    """

    name: str
    genres: tuple[str, ...]
    styles: tuple[str, ...]

    def combinations(self) -> list[tuple[str, str]]:
        """All (genre, style) pairs, genre-major."""
        return [(g, s) for g in self.genres for s in self.styles]


TAXONOMIES: dict[str, Taxonomy] = {
    "paper": Taxonomy("paper", PAPER_GENRES, PAPER_STYLES),
    "lakh": Taxonomy("lakh", TOPMAGD_GENRES, MASD_STYLES),
}


def get_taxonomy(name: str) -> Taxonomy:
    """Return the taxonomy called ``name`` (``paper`` or ``lakh``)."""
    try:
        return TAXONOMIES[name]
    except KeyError:
        raise ValueError(f"unknown taxonomy {name!r}; expected one of {sorted(TAXONOMIES)}") from None


def paper_temperature(index: int) -> float:
    """The paper's temperature for the ``index``-th song of a combination: 0.6 + (i % 10) * 0.04."""
    return round(0.6 + (index % 10) * 0.04, 4)


def label_slug(label: str) -> str:
    """A file-system-safe form of a label: ``Bossa Nova`` -> ``bossa-nova``, ``Hip-Hop`` -> ``hip-hop``."""
    return "".join(c if c.isalnum() else "-" for c in label.lower().replace("_", "-")).strip("-")
