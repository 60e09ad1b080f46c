"""Batch files for a generation run: OpenAI's Batch API and vLLM's ``run-batch``, and an estimate first.

* :func:`export_batch` writes every pending request of a run as one line of OpenAI Batch API JSONL:
  ``{"custom_id": <cache key>, "method": "POST", "url": "/v1/chat/completions", "body": ...}``, the body
  being the JSON the live path sends (:func:`wire_body`), structured-outputs schema or grammar included.
  Each pending song contributes the call of its next attempt. A plan-then-compose variant needs two
  rounds: the first export holds the plan calls; once their results are imported, the next export
  holds the compose calls (a song whose plan is already cached goes straight to its compose call).
* :func:`import_batch` reads a results JSONL (OpenAI's output or error file, ``vllm run-batch -o``, or
  :func:`run_batch`) into the call cache under each ``custom_id``. A following normal run then writes
  the MIDI files and manifest rows from the cache with zero calls. Lines that give no usable reply are
  recorded in ``batch-imports.jsonl`` beside the manifest, with their reason: a malformed line, a
  ``custom_id`` that is no pending request of this run, and a failed request (which also gets an
  ``error`` manifest row ``batch_error:<reason>``, so the song is exported again); a reply that did not
  finish with ``stop`` is cached and logged, and the run's manifest row says what became of it
  (``truncated``, ...). Importing the same file twice adds nothing.
* :func:`run_batch` sends a batch file's requests to an OpenAI-compatible server (by default the
  embedded llama-server) and writes a results file: the role ``vllm run-batch`` plays on a GPU machine.
* :func:`estimate` counts a run's requests and expected tokens, hours and cost before anything is sent.

Modules: :mod:`.requests` (pending calls, export), :mod:`.results` (import), :mod:`.runner` (run a batch file),
:mod:`.estimate`. Used in: ``llmmusic generate --export-batch/--import-batch/--estimate``, ``llmmusic batch run``.
"""

from llmmusic.generation.batch.estimate import (
                                                CHARS_PER_TOKEN,
                                                Estimate,
                                                StageTokens,
                                                estimate,
                                                measured_tokens,
)
from llmmusic.generation.batch.requests import (
                                                CHAT_URL,
                                                OPENAI_MAX_BYTES,
                                                OPENAI_MAX_REQUESTS,
                                                ExportSummary,
                                                Pending,
                                                PendingCall,
                                                batch_line,
                                                export_batch,
                                                pending_calls,
                                                wire_body,
)
from llmmusic.generation.batch.results import IMPORT_LOG, ImportSummary, import_batch
from llmmusic.generation.batch.runner import RunBatchSummary, read_batch, run_batch

__all__ = ["CHARS_PER_TOKEN", "CHAT_URL", "Estimate", "ExportSummary", "IMPORT_LOG", "ImportSummary", "OPENAI_MAX_BYTES",
           "OPENAI_MAX_REQUESTS", "Pending", "PendingCall", "RunBatchSummary", "StageTokens", "batch_line", "estimate",
           "export_batch", "import_batch", "measured_tokens", "pending_calls", "read_batch", "run_batch", "wire_body"]
