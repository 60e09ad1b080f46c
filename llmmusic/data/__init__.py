"""Music on disk: the piece data model, MIDI in and out, human corpora, generated datasets, label sets,
piano rolls and balanced samples (see the module map in :mod:`llmmusic`)."""
