import threading

from llmmusic.cache import CachedCall, CallCache, cache_key


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
