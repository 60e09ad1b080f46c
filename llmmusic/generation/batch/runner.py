"""A batch file run against an OpenAI-compatible server (the role ``vllm run-batch`` plays on a GPU machine)."""


from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmmusic import atomic
from llmmusic.data.dataset import read_manifest_rows, repair_torn_tail
from llmmusic.errors import DataError, UserError
from llmmusic.generation.batch.results import jsonl_lines

log = logging.getLogger(__name__)



# ---------------------------------------------------------------------------------------------- runner
@dataclass
class RunBatchSummary:
    """What :func:`run_batch` did."""

    requests: int = 0
    skipped: int = 0  # custom_ids already in the results file (a resumed run)
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_batch(path: str | Path) -> list[dict[str, Any]]:
    """The request lines of a batch file, checked.

    Raises:
        DataError: a line is not a request line, or two lines share a ``custom_id``.
    """
    lines, ids = [], set()
    for number, text in jsonl_lines(Path(path)):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            line = None
        if not (isinstance(line, dict) and isinstance(line.get("custom_id"), str) and line.get("method") == "POST"
                and isinstance(line.get("url"), str) and isinstance(line.get("body"), dict)):
            raise DataError(f"{path}: line {number} is not a batch request line "
                            '({"custom_id", "method": "POST", "url", "body"})')
        if line["custom_id"] in ids:
            raise DataError(f"{path}: line {number} repeats custom_id {line['custom_id']}")
        ids.add(line["custom_id"])
        lines.append(line)
    return lines


def _post(root: str, line: dict[str, Any], timeout: float, retries: int) -> dict[str, Any]:
    """Send one request line; its results line (a connection failure after ``retries`` retries, or an
    HTTP error status, is a failed request, as in a Batch API results file)."""
    data = json.dumps(line["body"]).encode("utf-8")
    request = urllib.request.Request(root + line["url"], data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                response = {"status_code": resp.status, "request_id": "", "body": json.loads(resp.read())}
            error = None
            break
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = {"error": {"message": raw.decode("utf-8", "replace")[:500]}}
            response, error = {"status_code": exc.code, "request_id": "", "body": body}, None
            if exc.code not in (429, 500, 502, 503, 504):
                break
        except (OSError, ValueError) as exc:  # connection refused or reset, timeout, a body that is not JSON
            response, error = None, {"code": type(exc).__name__, "message": str(exc)[:500]}
        if attempt < retries:
            time.sleep(min(30.0, 2.0 ** attempt))
    return {"id": f"batch_req_{hashlib.sha256(line['custom_id'].encode()).hexdigest()[:24]}",
            "custom_id": line["custom_id"], "response": response, "error": error}


def run_batch(requests_path: str | Path, results_path: str | Path, base_url: str | None = None,
              concurrency: int = 4, timeout: float = 900.0, retries: int = 3, parallel: int = 4) -> RunBatchSummary:
    """Send every request of a batch file to an OpenAI-compatible server and append one results line each.

    Args:
        requests_path: a batch file (:func:`export_batch`).
        results_path: the results file; requests whose ``custom_id`` is already in it are skipped, so an
            interrupted run continues.
        base_url: the server's OpenAI root (``http://host:8000/v1``); ``None`` = the embedded llama-server
            of the model the bodies name (started, or reused when one is running).
        concurrency: requests in flight. timeout: seconds per request. retries: of connection errors,
            429 and 5xx. parallel: slots of an embedded server started here.
    """
    from llmmusic.generation.server import MODELS, EmbeddedServer

    lines = read_batch(requests_path)
    repair_torn_tail(results_path)
    done = {row.get("custom_id") for row in read_manifest_rows(results_path)} if Path(results_path).exists() else set()
    todo = [line for line in lines if line["custom_id"] not in done]
    summary = RunBatchSummary(requests=len(todo), skipped=len(lines) - len(todo))
    if not todo:
        return summary
    server = None
    if base_url is None:
        models = {line["body"].get("model") for line in todo}
        if len(models) != 1 or next(iter(models)) not in MODELS:
            raise UserError(f"{requests_path}: the bodies name {sorted(map(str, models))}, not one embedded model "
                            f"({', '.join(sorted(MODELS))}); give --base-url")
        server = EmbeddedServer(model=str(next(iter(models))), parallel=parallel)
        base_url = server.start().base_url
    root = base_url.rstrip("/").removesuffix("/v1")
    start = time.monotonic()
    work: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    for line in todo:
        work.put(line)
    results: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()

    def worker() -> None:
        while True:
            try:
                line = work.get_nowait()
            except queue.Empty:
                return
            results.put(_post(root, line, timeout, retries))

    for k in range(min(concurrency, len(todo))):  # daemon threads: a stopped run does not wait for them
        threading.Thread(target=worker, name=f"batch-{k}", daemon=True).start()
    try:
        for _ in todo:
            while True:
                try:
                    row = results.get(timeout=0.5)  # wakes twice a second so a signal is handled at once
                    break
                except queue.Empty:
                    continue
            atomic.append_line(results_path, json.dumps(row, ensure_ascii=False))
            ok = row["error"] is None and row["response"]["status_code"] == 200
            summary.ok += ok
            summary.failed += not ok
    finally:
        summary.seconds = round(time.monotonic() - start, 3)
        if server is not None:
            server.stop()  # only a server started here
    return summary
