"""The miner's embedding and FAISS clustering layer: stable vectors, stable clusters, at scale."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

import msgspec
import numpy as np
import pytest

from actors.mining.clustering import ClusterIndex, kmeans_groups
from actors.mining.embed import Embedder, HashingEmbedder, SemanticEmbedder, make_embedder

PREMATURE = """missing_artifact/premature_completion declared complete; verifier: FAILED test_output.py::test_report_exists - AssertionError: /app/report.txt does not exist
$ python3 count_words.py input.txt  -> exit 0
  wrote 12 lines
stop: completed; verifier: 1 failed, 2 passed in 0.12s"""
STATE = """wrong_output/state_lost_between_commands `cd /app/build` ran alone; the next command failed
$ cd /app/build  -> exit 0
$ make install  -> exit 2
  make: *** No rule to make target 'install'.  Stop.
stop: max_turns; verifier: 3 failed in 1.02s"""
LOOP = """turn_limit/repeated_failing_command repeated: pip install numpy
$ pip install numpy  -> exit 1
  ERROR: Could not find a version that satisfies the requirement numpy
$ pip install numpy  -> blocked: loop_breaker
[loop_breaker:block] the same failing command was run 3 times
stop: max_turns; verifier: 2 failed in 0.3s"""


def variant(text: str) -> str:
    """The same failure on another task: another file name, other numbers."""
    return (text.replace("report.txt", "results.txt").replace("test_report", "test_results")
            .replace("12 lines", "7 lines").replace("0.12s", "3.40s").replace("/app/build", "/app/src/build")
            .replace("exit 2", "exit 1").replace("1.02s", "0.8s").replace("3 times", "4 times"))


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


# -- embeddings ------------------------------------------------------------------------


def test_hashing_vectors_are_the_same_bytes_in_another_process():
    texts = [PREMATURE, STATE, "", "exit 1 at line 12"]
    here = HashingEmbedder().embed(texts).tobytes().hex()
    code = ("import json, sys; from actors.mining.embed import HashingEmbedder; "
            "print(HashingEmbedder().embed(json.loads(sys.stdin.read())).tobytes().hex())")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a different salt for hash(): must not matter
    there = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True,
                           text=True, check=True, env=env).stdout.strip()
    assert there == here


def test_hashing_rows_are_unit_float32():
    e = HashingEmbedder(dim=384)
    assert isinstance(e, Embedder) and e.dim == 384 and e.name
    v = e.embed([PREMATURE, STATE, "", "!!!"])
    assert v.dtype == np.float32 and v.shape == (4, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert e.embed([]).shape == (0, 384)


def test_near_duplicates_close_and_mechanisms_far():
    e = HashingEmbedder()
    p, p2, s, s2, loop = e.embed([PREMATURE, variant(PREMATURE), STATE, variant(STATE), LOOP])
    assert cos(p, p2) > 0.85 and cos(s, s2) > 0.85
    for a, b in [(p, s), (p, loop), (s, loop), (p2, s2)]:
        assert cos(a, b) < 0.5
    x, y = e.embed(["exit 1 at line 12", "exit 2 at line 40"])
    assert cos(x, y) > 0.99
    h1, h2 = e.embed(["segfault at 0x7ffd3a2b in pid deadbeef01", "segfault at 0x55aa10 in pid 0a1b2c3d4e"])
    assert cos(h1, h2) > 0.99


def test_make_embedder_names_the_known_kinds():
    assert isinstance(make_embedder("hashing"), HashingEmbedder)
    with pytest.raises(ValueError, match="hashing.*semantic"):
        make_embedder("word2vec")


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None,
                    reason="sentence-transformers is installed")
def test_semantic_without_the_extra_says_what_to_install():
    with pytest.raises(ImportError, match=r'pip install -e "\.\[semantic\]"'):
        SemanticEmbedder()


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None,
                    reason="the semantic extra (sentence-transformers) is not installed")
def test_semantic_embedder_from_local_files():
    e = make_embedder("semantic")
    v = e.embed([PREMATURE, variant(PREMATURE), LOOP])
    assert v.dtype == np.float32 and v.shape == (3, e.dim)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert cos(v[0], v[1]) > cos(v[0], v[2])


# -- ClusterIndex ----------------------------------------------------------------------


def blobs(n: int, centres: int, seed: int, dim: int = 384, noise: float = 0.3):
    """Unit vectors around random unit centres (noise = expected norm of the offset)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    label = rng.integers(0, centres, n)
    x = c[label] + rng.standard_normal((n, dim), dtype=np.float32) * np.float32(noise / np.sqrt(dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, label, c


def test_merges_near_identical_failures_and_keeps_mechanisms_apart():
    e = HashingEmbedder()
    texts = [PREMATURE, STATE, variant(PREMATURE), variant(STATE), PREMATURE]
    keys = ["missing_artifact/premature_completion", "wrong_output/state_lost_between_commands"] * 2 + [
        "missing_artifact/premature_completion"]
    ci = ClusterIndex(e.dim, space=e.name)
    out = ci.assign(e.embed(texts), ["e1", "e2", "e3", "e4", "e5"], keys)
    assert out == ["c0001", "c0002", "c0001", "c0002", "c0001"]
    assert ci.members("c0001") == ["e1", "e3", "e5"] and ci.count("c0002") == 2
    assert ci.key("c0001") == "missing_artifact/premature_completion"


def test_same_vector_other_key_is_another_cluster():
    x, _, _ = blobs(1, 1, seed=3)
    v = np.repeat(x, 2, axis=0)
    assert ClusterIndex(384).assign(v, ["a", "b"], ["k1", "k2"]) == ["c0001", "c0002"]
    assert ClusterIndex(384, same_key=False).assign(v, ["a", "b"], ["k1", "k2"]) == ["c0001", "c0001"]


def test_incremental_second_round_joins_first_rounds_clusters():
    x, label, _ = blobs(400, 4, seed=1)
    keys = [f"k{l}" for l in label]
    ci = ClusterIndex(384)
    first = ci.assign(x[:200], [f"r1-{i}" for i in range(200)], keys[:200])
    assert len(ci) == 4
    second = ci.assign(x[200:], [f"r2-{i}" for i in range(200)], keys[200:])
    assert len(ci) == 4
    by_label = {l: c for l, c in zip(label[:200], first)}
    assert second == [by_label[l] for l in label[200:]]
    assert sum(ci.count(c) for c in ci.cluster_ids) == 400
    far, _, _ = blobs(1, 1, seed=99)
    assert ci.assign(far, ["r3-0"], ["k0"]) == ["c0005"]


def test_known_items_keep_their_cluster_and_are_not_counted_twice():
    x, label, _ = blobs(50, 2, seed=2)
    ids, keys = [f"e{i}" for i in range(50)], ["k"] * 50
    ci = ClusterIndex(384)
    out = ci.assign(x, ids, keys)
    before = {c: ci.count(c) for c in ci.cluster_ids}
    assert ci.assign(x, ids, keys) == out
    assert {c: ci.count(c) for c in ci.cluster_ids} == before
    assert ci.cluster_of("e0") == out[0] and ci.cluster_of("nope") is None


def test_state_round_trips_and_continues_identically():
    x, label, _ = blobs(600, 6, seed=4)
    keys = [f"k{l % 2}" for l in label]
    ids = [f"e{i}" for i in range(600)]
    ci = ClusterIndex(384, threshold=0.85, space="hashing-v1-384")
    ci.assign(x[:300], ids[:300], keys[:300])
    state = msgspec.json.decode(msgspec.json.encode(ci.to_state()))
    back = ClusterIndex.from_state(state)
    assert back.cluster_ids == ci.cluster_ids and back.space == "hashing-v1-384" and back.threshold == 0.85
    assert back.to_state() == ci.to_state()
    assert back.assign(x[300:], ids[300:], keys[300:]) == ci.assign(x[300:], ids[300:], keys[300:])
    assert all(np.array_equal(back.centroid(c), ci.centroid(c)) for c in ci.cluster_ids)
    assert back.to_state() == ci.to_state()


def test_empty_batch_and_bad_shapes():
    ci = ClusterIndex(384)
    assert ci.assign(np.zeros((0, 384), dtype=np.float32), [], []) == []
    assert len(ci) == 0 and ci.to_state()["clusters"] == []
    with pytest.raises(ValueError, match="shape"):
        ci.assign(np.zeros((2, 10), dtype=np.float32), ["a", "b"], ["k", "k"])


def test_same_inputs_same_ids():
    x, label, _ = blobs(3000, 20, seed=5, noise=0.36)  # borderline: many merges and many new clusters
    ids, keys = [f"e{i}" for i in range(3000)], [f"k{l % 3}" for l in label]
    a, b = ClusterIndex(384, chunk=512), ClusterIndex(384, chunk=512)
    assert a.assign(x, ids, keys) == b.assign(x, ids, keys)
    assert 20 < len(a) < 3000 and a.to_state() == b.to_state()


def test_hundred_thousand_items_in_one_call():
    n = 100_000
    x, label, _ = blobs(n, 50, seed=7)
    keys = [f"k{l % 5}" for l in label]
    ci = ClusterIndex(384)
    out = ci.assign(x, [f"e{i}" for i in range(n)], keys)
    assert 50 <= len(ci) <= 55
    per_cluster: dict[str, Counter] = defaultdict(Counter)
    per_label: dict[int, Counter] = defaultdict(Counter)
    for c, l in zip(out, label.tolist()):
        per_cluster[c][l] += 1
        per_label[l][c] += 1
    purity = sum(cnt.most_common(1)[0][1] for cnt in per_cluster.values()) / n
    completeness = sum(cnt.most_common(1)[0][1] for cnt in per_label.values()) / n
    assert purity >= 0.999 and completeness >= 0.99


def test_kmeans_groups_deterministic_and_finds_groups():
    x, label, _ = blobs(5000, 8, seed=8, noise=0.5)
    a, b = kmeans_groups(x, 8, seed=0), kmeans_groups(x, 8, seed=0)
    assert a.dtype == np.int64 and a.shape == (5000,) and np.array_equal(a, b)
    purity = sum(Counter(label[a == g].tolist()).most_common(1)[0][1] for g in np.unique(a)) / len(a)
    assert purity > 0.8  # a k-means local optimum may merge two groups; never worse
    assert kmeans_groups(x[:3], 10).max() <= 2
    assert kmeans_groups(np.zeros((0, 384), dtype=np.float32), 4).shape == (0,)
