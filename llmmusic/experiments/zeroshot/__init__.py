"""Zero-shot genre / style classification of symbolic music by an LLM (the paper's first experiment).

A piece is shown to the model in the same JSON form the generation prompt asks for
(``Piece.to_dict()``: four tracks of ``[pitch, duration, velocity, start]``) together with the
candidate labels, and the model is asked which label fits. Four modes:

* ``free`` — the paper's setting: free text, parsed by :func:`parse_answer` (exact match,
  case-insensitive match, else the first candidate mentioned; anything else is ``unparsed``).
* ``score`` — log-probability scoring of the same reply (no extra prompt): the server reports the
  model's distribution over the reply's first token, before any sampling; every candidate scores the
  log-probability of its first token, and candidates that share a first token are split by a short
  follow-up request (:func:`score_reply`). A full ranking (top-k accuracy), never ``unparsed``.
* ``json`` — constrained decoding: a ``response_format`` JSON schema whose ``label`` is an ``enum``
  of the candidates, so every answer is a candidate.
* ``explain`` — the model first describes the melody, chords, bass and rhythm track by track (as the
  paper reports it does), then ends with ``Answer: <label>``.

Every call goes through :class:`llmmusic.generation.llm.LLMClient` (cached). :data:`PROMPT_VERSION` names the
prompt templates and is recorded with every result.

Modules, in the order of the data path:

* :mod:`~llmmusic.experiments.zeroshot.prompts` — the question: piece JSON, system message, answer
  instruction per mode, decoding, response schema and grammar of the candidates.
* :mod:`~llmmusic.experiments.zeroshot.answers` — reading a free-text reply (:func:`parse_answer`).
* :mod:`~llmmusic.experiments.zeroshot.scoring` — label tokenisations (:class:`LabelTokens`, through
  :meth:`LLMClient.tokenize_pieces`), first-token scores (:func:`score_reply`), forced answers.
* :mod:`~llmmusic.experiments.zeroshot.items` — items, questions (:class:`Task`) and evaluation sets
  (:func:`build_sets`: pinned LLM-MIDI sample, human MIDI, a user's folder).
* :mod:`~llmmusic.experiments.zeroshot.run` — asking: :func:`classify`, :func:`run_items`, :func:`run_sets`.
* :mod:`~llmmusic.experiments.zeroshot.results` — summaries against chance, the chapter's tables, the
  results file (JSON lines).
* :mod:`~llmmusic.experiments.zeroshot.plots` — accuracy, confusion and answer-prior figures.
* :mod:`~llmmusic.experiments.zeroshot.example` — one question shown in full; forcing against first-token scores.
* :mod:`~llmmusic.experiments.zeroshot.experiment` — the driver (:func:`run_experiment`) that chapter 3 and
  ``llmmusic zeroshot run`` call; it writes the results file chapter 4, lab 3 and the headline read.

Used in: notebooks/03_zero_shot.py, course/labs/lab3_zero_shot.py, ``llmmusic zeroshot``.
"""

from llmmusic.experiments.zeroshot.answers import UNPARSED, Answer, parse_answer
from llmmusic.experiments.zeroshot.example import (FORCED_LABEL, PROBE_MESSAGES, Example, ask_example, forced_tables,
                                                   show_messages)
from llmmusic.experiments.zeroshot.experiment import (DEFAULT_CACHE, DEFAULT_DIR, DEFAULT_RESULTS,
                                                      HUMAN_AT_SIZE, RESULTS_NAME, Clip, ZeroShotRun, at_size_results,
                                                      at_size_table, chapter_results, current_results, request_throughput,
                                                      run_experiment, sample_pin)
from llmmusic.experiments.zeroshot.items import (SET_NAMES, EvalSet, Item, Task, build_sets, llm_midi_items,
                                                 read_items, standard_tasks, user_folder_items)
from llmmusic.experiments.zeroshot.plots import confusion_figures, plot_accuracy, plot_answer_prior
from llmmusic.experiments.zeroshot.prompts import (DECODING, MODES, PROMPT_VERSION, QUESTIONS, SYSTEM, build_messages,
                                                   label_grammar, label_schema, piece_json)
from llmmusic.experiments.zeroshot.results import (AGREEMENT_PAIRS, SUMMARY_COLUMNS, agreement, answer_prior, censored,
                                                   concentration, eval_scores, merge_results, mode_agreement,
                                                   parse_methods, read_result_rows, read_results, summarize,
                                                   summarize_results, throughput, write_results)
from llmmusic.experiments.zeroshot.run import RowSink, classify, run_items, run_sets
from llmmusic.experiments.zeroshot.scoring import (TOP_LOGPROBS, LabelTokens, Scores, alternatives, forced_logprob,
                                                   forced_score, score_reply, top_n)

__all__ = [
    "AGREEMENT_PAIRS", "Answer", "Clip", "DECODING", "DEFAULT_CACHE", "DEFAULT_DIR", "DEFAULT_RESULTS",
    "HUMAN_AT_SIZE", "at_size_results", "at_size_table", "EvalSet", "Example", "FORCED_LABEL", "Item", "LabelTokens", "MODES", "PROBE_MESSAGES", "PROMPT_VERSION",
    "QUESTIONS", "RESULTS_NAME", "RowSink", "SET_NAMES", "SUMMARY_COLUMNS", "SYSTEM", "Scores", "TOP_LOGPROBS", "Task",
    "UNPARSED", "ZeroShotRun", "agreement", "alternatives", "answer_prior", "ask_example", "build_messages",
    "build_sets", "censored", "classify", "concentration", "confusion_figures", "eval_scores", "forced_logprob",
    "forced_score", "forced_tables", "label_grammar", "label_schema", "llm_midi_items", "merge_results",
    "mode_agreement", "parse_answer", "parse_methods", "piece_json", "plot_accuracy", "plot_answer_prior",
    "read_items", "read_result_rows", "read_results", "request_throughput", "sample_pin", "chapter_results", "current_results", "run_experiment", "run_items", "run_sets",
    "score_reply", "show_messages", "standard_tasks", "summarize", "summarize_results", "throughput", "top_n",
    "user_folder_items", "write_results",
]
