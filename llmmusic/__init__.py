"""llmmusic: the helper package behind the LLM-MIDI book.

Reproduces Shin & Kaneko (2025), *Large Language Models' Internal Perception of Symbolic Music*:
prompts an LLM for 4-track MIDI, parses and stores it, and runs the paper's three experiments
(zero-shot classification, CNN classification, melody completion) on LLM-made and human-made MIDI.

The folders follow the data path, stage by stage:

``generation/`` -- asking an LLM for music
    ``prompts`` (the paper's prompt and schema), ``variants`` (the prompt-design study's variants),
    ``json_schema`` and ``grammar`` (structured outputs and their llama.cpp grammar), ``music_symbols``,
    ``llm`` (one OpenAI-compatible client), ``cache`` (content-addressed call cache), ``server`` (the
    embedded llama-server), ``songs`` (what a run makes, in which order), ``parse`` (reply -> piece),
    ``generate`` (the resumable grid run), ``batch/`` (OpenAI Batch / vLLM files, estimates), ``card``
    (``DATASET.md``), ``replay`` (showing and replaying a dataset's requests).
``data/`` -- music on disk
    ``piece`` (the data model), ``midi`` (MIDI <-> pieces), ``midi_folder`` (reading many files, one
    failure format), ``corpora`` (human MIDI offline), ``dataset`` (a generated dataset: manifest,
    loading, ``pick_dataset``, ``taxonomy_of``), ``taxonomy`` (label sets), ``pianoroll`` (rolls),
    ``sampling`` (balanced samples).
``analysis/`` -- measuring it
    ``stats`` (dataset statistics, music metrics), ``probe`` (musicality and legibility of a dataset),
    ``baselines`` (hand-made features + scikit-learn), ``metrics`` (accuracy, F1, MAP, HITS@k,
    bootstrap intervals).
``experiments/`` -- the paper's three experiments, each with one ``experiment.py`` driver that the
    chapter, the lab and the command line call: ``zeroshot/``, ``cnn/``, ``melody/``; ``repeats`` (the CNN
    and melody drivers over seeds, their summaries); and ``torch_setup`` (device and threads).
``book/`` -- the executable book
    ``runner`` (the one notebook runner, for chapters and labs), ``notebook``, ``parameters``,
    ``chapters``, ``build``, ``pages``, ``toc``, ``cell_progress``, ``provenance`` and ``inputs`` (what made
    each figure), ``audio``, ``plots``, ``headline`` and ``claims`` (pages generated from results files),
    ``sphinx_ext``.
``course/`` -- the course module: ``labs``, ``autograder``, ``answers``, ``solutions``, ``guide``,
    ``sphinx_ext``.
``commands/`` and ``cli`` -- the ``llmmusic`` command line, one module per sub-command.

Shared by all: ``errors`` (named, one-line errors), ``atomic`` (atomic writes), ``lock`` (one writer
per dataset folder), ``checkpoint`` (safe model files), ``paths`` (``ROOT``, the machine-local cache),
``progress`` (progress of long loops).
"""

__version__ = "0.1.0"
