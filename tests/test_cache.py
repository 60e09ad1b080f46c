import threading

from llmmusic.generation.cache import CachedCall, CallCache, cache_key


def test_key_is_order_independent_and_content_sensitive():
    a = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.6}
    b = {"temperature": 0.6, "messages": [{"role": "user", "content": "hi"}], "model": "m"}
    assert cache_key(a) == cache_key(b)
    assert cache_key(a) != cache_key({**a, "temperature": 0.64})
    assert cache_key(a) != cache_key({**a, "messages": [{"role": "user", "content": "hi!"}]})


def test_put_get_roundtrip_and_first_write_wins(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    req = {"model": "m", "messages": []}
    key = cache_key(req)
    assert cache.get(key) is None
    cache.put(key, req, CachedCall(key, "first", "stop", {"completion_tokens": 3}, [{"t": 1}], 1.5))
    cache.put(key, req, CachedCall(key, "second", "stop"))
    got = cache.get(key)
    assert got.text == "first" and got.usage == {"completion_tokens": 3} and got.logprobs == [{"t": 1}]
    assert len(cache) == 1
    # a second connection (another process would do the same) sees the row
    assert CallCache(tmp_path / "c.sqlite").get(key).text == "first"


def test_concurrent_writers(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")

    def work(i):
        req = {"i": i}
        cache.put(cache_key(req), req, CachedCall(cache_key(req), str(i), "stop"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 40
    assert cache.get(cache_key({"i": 7})).text == "7"


def test_every_stored_call_is_in_the_main_file_alone(tmp_path):
    """A copy of the .sqlite file without its -wal file (what git commits) holds every call stored so far."""
    import shutil

    path = tmp_path / "c.sqlite"
    cache = CallCache(path)  # the connection stays open, as in a running generation
    keys = []
    for i in range(3):
        req = {"i": i}
        keys.append(cache_key(req))
        cache.put(keys[-1], req, CachedCall(keys[-1], f"reply {i}", "stop"))
    copy = tmp_path / "copy" / "c.sqlite"
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    assert not copy.with_name("c.sqlite-wal").exists()
    copied = CallCache(copy)
    assert [copied.get(k).text for k in keys] == ["reply 0", "reply 1", "reply 2"]


def test_key_is_pinned_to_its_canonical_json():
    """Compact separators, UTF-8 (not ASCII escapes), sorted keys: the committed caches are keyed so, and a
    change here would miss every one of their calls."""
    import hashlib
    import json

    req = {"model": "m", "messages": [{"role": "user", "content": "café ♪ — 8 bars"}], "temperature": 0.6, "seed": 7}
    canonical = '{"messages":[{"content":"café ♪ — 8 bars","role":"user"}],"model":"m","seed":7,"temperature":0.6}'
    assert json.dumps(req, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == canonical
    assert cache_key(req) == hashlib.sha256(canonical.encode()).hexdigest() == \
        "8c73e5d9f7efed954017223ff457c3ecba4febd669d24927cb7f9238edcbdd18"


def test_every_field_comes_back_and_missing_ones_have_defaults(tmp_path):
    import sqlite3

    cache = CallCache(tmp_path / "c.sqlite")
    cache.put("k", {"r": 1}, CachedCall("k", "text", "length", {"prompt_tokens": 2}, {"content": []}, 2.5, 99.0))
    assert cache.get("k") == CachedCall("k", "text", "length", {"prompt_tokens": 2}, {"content": []}, 2.5, 99.0)
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:  # a row with only what the schema requires
        conn.execute("INSERT INTO calls (key, request, text) VALUES ('bare', '{}', 'x')")
    assert cache.get("bare") == CachedCall("bare", "x", None, {}, None, 0.0, 0.0)


def test_one_connection_per_thread_which_close_may_close_from_another(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    assert cache._conn() is cache._conn()
    worker: list = []
    thread = threading.Thread(target=lambda: worker.append(cache._conn()))
    thread.start()
    thread.join()
    assert worker[0] is not cache._conn()
    cache.close()  # closes the worker's connection too, from this thread
    cache.put("k", {}, CachedCall("k", "after close", "stop"))  # a new connection
    assert cache.get("k").text == "after close"


def test_a_cache_in_memory_is_shared_by_threads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = CallCache(":memory:")
    req = {"model": "m"}
    key = cache_key(req)
    cache.put(key, req, CachedCall(key, "in memory", "stop"))
    seen = []
    reader = threading.Thread(target=lambda: seen.append(cache.get(key).text))
    reader.start()
    reader.join()
    assert seen == ["in memory"] and len(cache) == 1
    assert list(tmp_path.iterdir()) == []  # no file made


def test_the_folder_is_made_and_the_request_is_kept_as_canonical_json(tmp_path):
    """The request beside each reply is what a reader audits: its JSON with sorted keys."""
    import json
    import sqlite3

    path = tmp_path / "a" / "b" / "c.sqlite"  # two missing folders
    cache = CallCache(path)
    req = {"temperature": 0.6, "model": "m", "messages": [{"role": "user", "content": "hi"}]}
    key = cache_key(req)
    cache.put(key, req, CachedCall(key, "reply", "stop", created=123.5))
    with sqlite3.connect(path) as conn:
        stored, logprobs = conn.execute("SELECT request, logprobs FROM calls WHERE key=?", (key,)).fetchone()
    assert stored == json.dumps(req, sort_keys=True) and json.loads(stored) == req
    assert logprobs is None  # no log-probabilities asked for: none stored
    assert cache.get(key).created == 123.5


def test_a_call_without_a_time_is_stamped_when_stored(tmp_path):
    import time

    cache = CallCache(tmp_path / "c.sqlite")
    before = time.time()
    cache.put("k", {}, CachedCall("k", "reply", "stop"))
    assert before <= cache.get("k").created <= time.time()


def test_checkpoint_empties_the_write_ahead_log(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = CallCache(path)
    for i in range(5):
        cache.put(str(i), {"i": i}, CachedCall(str(i), "x" * 10_000, "stop"))
    cache.checkpoint()
    wal = path.with_name("c.sqlite-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert len(CallCache(path)) == 5


def test_a_file_that_is_no_cache_is_named(tmp_path):
    import pytest

    from llmmusic.errors import DataError

    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(DataError) as exc:
        CallCache(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: not a call cache")
    assert message.endswith("expected an SQLite file written by llmmusic (move it away to start an empty cache)")
    assert path.read_text().startswith("these are my notes")  # left as it was


def test_a_connection_waits_a_minute_for_another_writer(tmp_path):
    # a write locked by another process is retried for up to 60 s (sqlite3's default is 5 s), in WAL mode
    cache = CallCache(tmp_path / "c.sqlite")
    conn = cache._conn()
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (60_000,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    cache.close()
