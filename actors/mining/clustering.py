"""FAISS clustering for the weakness miner: merge near-identical signatures, group failures.

`ClusterIndex` is incremental (round 2's failures join round 1's clusters), exact per
signature key, deterministic for the same inputs in the same order, and fast on 100k+
items: items go in chunks; a chunk is searched against the centroids with one FAISS
call, and its leftovers are grouped among themselves with one matrix product (greedy
leaders). Centroids are running means, refreshed after each chunk.
`kmeans_groups` is plain FAISS k-means, for grouping very large failure sets.
"""

from __future__ import annotations

import base64
from typing import Any

import faiss
import numpy as np

STATE_VERSION = 1


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(n == 0, 1.0, n)).astype(np.float32)


def _group_sums(labels: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct labels (ascending), the float64 row sums and counts per label (np.add.at is slow)."""
    order = np.argsort(labels, kind="stable")
    uniq, start, counts = np.unique(labels[order], return_index=True, return_counts=True)
    return uniq, np.add.reduceat(x[order].astype(np.float64), start, axis=0), counts


class _Group:
    """The clusters that may take an item of one key: their centroids in an IndexFlatIP."""

    def __init__(self, dim: int) -> None:
        self.index = faiss.IndexFlatIP(dim)  # inner product of unit vectors = cosine
        self.clusters: list[int] = []  # cluster number of each index row
        self.row: dict[int, int] = {}

    def add(self, clusters: list[int], centroids: np.ndarray) -> None:
        for c in clusters:
            self.row[c] = len(self.clusters)
            self.clusters.append(c)
        self.index.add(np.ascontiguousarray(centroids, dtype=np.float32))

    def update(self, clusters: list[int], centroids: np.ndarray) -> None:
        """Overwrite centroids in place: IndexFlat keeps them in one float32 buffer."""
        xb = faiss.rev_swig_ptr(self.index.get_xb(), self.index.ntotal * self.index.d)
        xb.reshape(self.index.ntotal, self.index.d)[[self.row[c] for c in clusters]] = centroids


class ClusterIndex:
    """Online clustering by cosine similarity to running-mean centroids.

    An item joins the most similar cluster of its key (of any key if `same_key=False`)
    whose centroid similarity is >= `threshold`; otherwise it starts a cluster. Ids
    ("c0001", ...) follow first appearance and never change. An item id seen before keeps
    its cluster and is not counted again, so re-mining a round after a resume is harmless.
    """

    def __init__(self, dim: int, threshold: float = 0.9, same_key: bool = True,
                 chunk: int = 2048, space: str = "") -> None:
        self.dim = dim
        self.threshold = float(threshold)
        self.same_key = same_key
        self.chunk = chunk
        self.space = space
        """Name of the embedder the vectors come from; a resume with another must start over."""
        self._ids: list[str] = []
        self._num: dict[str, int] = {}
        self._keys: list[str] = []
        self._counts: list[int] = []
        self._members: list[list[str]] = []
        self._sums = np.zeros((16, dim), dtype=np.float64)  # grows by doubling; rows [:len(self)]
        self._of: dict[str, int] = {}
        self._groups: dict[str, _Group] = {}
        self._next = 1

    # -- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def cluster_ids(self) -> list[str]:
        return list(self._ids)

    def _n(self, cluster_id: str) -> int:
        try:
            return self._num[cluster_id]
        except KeyError:
            raise KeyError(f"no cluster {cluster_id!r}") from None

    def key(self, cluster_id: str) -> str:
        """The key of the item that opened the cluster."""
        return self._keys[self._n(cluster_id)]

    def count(self, cluster_id: str) -> int:
        return self._counts[self._n(cluster_id)]

    def members(self, cluster_id: str) -> list[str]:
        return list(self._members[self._n(cluster_id)])

    def centroid(self, cluster_id: str) -> np.ndarray:
        return _unit(self._sums[self._n(cluster_id)])

    def cluster_of(self, item_id: str) -> str | None:
        c = self._of.get(item_id)
        return None if c is None else self._ids[c]

    # -- assigning ---------------------------------------------------------------------

    def assign(self, vectors: np.ndarray, ids: list[str], keys: list[str]) -> list[str]:
        """The cluster id of each item, in order; new items move centroids or open clusters.

        `vectors` are rows of the index's `dim` (re-normalised here); `keys` are signature
        keys. A known id (earlier call, or earlier in this batch) keeps its cluster and its
        vector is ignored.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        n = len(ids)
        if n == 0 and vectors.size == 0 and not keys:
            return []
        if vectors.shape != (n, self.dim) or len(keys) != n:
            raise ValueError(f"assign: need vectors of shape ({n}, {self.dim}) and {n} keys; "
                             f"got vectors {vectors.shape} and {len(keys)} keys")
        out = np.full(n, -1, dtype=np.int64)
        first: dict[str, int] = {}
        todo: dict[str, list[int]] = {}
        for i, item in enumerate(ids):
            if item in self._of or item in first:
                continue
            first[item] = i
            todo.setdefault(keys[i] if self.same_key else "", []).append(i)
        opened: list[tuple[int, int]] = []  # (position of the first member, cluster number)
        for group, positions in todo.items():
            self._assign_group(group, vectors, np.asarray(positions, dtype=np.int64), keys, out, opened)
        for pos, c in sorted(opened):  # name new clusters in order of first appearance
            self._ids[c] = f"c{self._next:04d}"
            self._num[self._ids[c]] = c
            self._next += 1
        for item, i in first.items():
            self._of[item] = int(out[i])
            self._members[out[i]].append(item)
        return [self._ids[self._of[item]] for item in ids]

    def _assign_group(self, group: str, vectors: np.ndarray, pos: np.ndarray, keys: list[str],
                      out: np.ndarray, opened: list[tuple[int, int]]) -> None:
        g = self._groups.get(group) or self._groups.setdefault(group, _Group(self.dim))
        for start in range(0, len(pos), self.chunk):
            p = pos[start:start + self.chunk]
            x = _unit(vectors[p])
            free = np.ones(len(p), dtype=bool)
            if g.index.ntotal:
                sim, row = g.index.search(x, 1)
                free = sim[:, 0] < self.threshold
                joined = np.asarray(g.clusters, dtype=np.int64)[row[~free, 0]]
                out[p[~free]] = joined
                self._absorb(g, joined, x[~free])
            if free.any():
                self._lead(g, p[free], x[free], keys, out, opened)

    def _absorb(self, g: _Group, clusters: np.ndarray, x: np.ndarray) -> None:
        """Add members to existing clusters; refresh their centroids in the index."""
        if not len(clusters):
            return
        touched, sums, n = _group_sums(clusters, x)
        self._sums[touched] += sums
        for c, k in zip(touched.tolist(), n.tolist()):
            self._counts[c] += k
        g.update(touched.tolist(), _unit(self._sums[touched]))

    def _lead(self, g: _Group, p: np.ndarray, x: np.ndarray, keys: list[str], out: np.ndarray,
              opened: list[tuple[int, int]]) -> None:
        """Group the chunk's unmatched items: greedy leaders, then merge by centroid.

        Leaders compare item to item, which is stricter than item to centroid; so the
        provisional groups are merged when their centroids are >= threshold alike (into
        an existing cluster first, else among themselves), as one-by-one assignment would.
        """
        roots, root = np.unique(_greedy(x @ x.T, self.threshold), return_inverse=True)
        cent = _unit(_group_sums(root, x)[1])
        fresh = np.ones(len(roots), dtype=bool)
        if g.index.ntotal:
            sim, row = g.index.search(cent, 1)
            fresh = sim[:, 0] < self.threshold
            hit = ~fresh[root]
            into = np.asarray(g.clusters, dtype=np.int64)[row[root[hit], 0]]
            out[p[hit]] = into
            self._absorb(g, into, x[hit])
        fr = np.flatnonzero(fresh)
        if not len(fr):
            return
        _, new = np.unique(_greedy(cent[fr] @ cent[fr].T, self.threshold), return_inverse=True)
        slot = np.full(len(roots), -1, dtype=np.int64)
        slot[fr] = new  # fresh root -> new cluster (0..m-1)
        items = np.flatnonzero(fresh[root])
        j = slot[root[items]]
        _, sums, counts = _group_sums(j, x[items])  # j covers 0..m-1
        m = len(sums)
        start = np.full(m, len(p), dtype=np.int64)
        np.minimum.at(start, j, items)  # each new cluster's first member
        cs = self._new([keys[int(p[i])] for i in start], sums, counts)
        g.add(cs.tolist(), _unit(sums))
        out[p[items]] = cs[j]
        opened += [(int(p[i]), int(c)) for i, c in zip(start, cs)]

    def _new(self, keys: list[str], sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Open clusters (unnamed until the end of assign()); their numbers."""
        first, m = len(self._ids), len(keys)
        while first + m > len(self._sums):
            self._sums = np.concatenate([self._sums, np.zeros_like(self._sums)])
        self._sums[first:first + m] = sums
        self._ids += [""] * m
        self._keys += keys
        self._counts += [int(c) for c in counts]
        self._members += [[] for _ in range(m)]
        return np.arange(first, first + m, dtype=np.int64)

    # -- persistence -------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON/msgspec-ready: sums as base64 float64 bytes, so a resume continues bit for bit."""
        return {
            "version": STATE_VERSION, "dim": self.dim, "threshold": self.threshold,
            "same_key": self.same_key, "chunk": self.chunk, "space": self.space, "next": self._next,
            "clusters": [
                {"id": self._ids[c], "key": self._keys[c], "count": self._counts[c],
                 "sum": base64.b64encode(self._sums[c].tobytes()).decode("ascii"),
                 "members": list(self._members[c])}
                for c in range(len(self._ids))
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClusterIndex:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"cluster state version {state.get('version')!r}; this code reads {STATE_VERSION}")
        self = cls(int(state["dim"]), float(state["threshold"]), bool(state["same_key"]),
                   int(state["chunk"]), str(state["space"]))
        cls_ = state["clusters"]
        sums = np.zeros((len(cls_), self.dim), dtype=np.float64)
        for c, cl in enumerate(cls_):
            s = np.frombuffer(base64.b64decode(cl["sum"]), dtype=np.float64)
            if s.shape != (self.dim,):
                raise ValueError(f"cluster {cl['id']}: sum has {s.size} values, expected {self.dim}")
            sums[c] = s
        self._new([cl["key"] for cl in cls_], sums, np.array([cl["count"] for cl in cls_]))
        groups: dict[str, list[int]] = {}
        for c, cl in enumerate(cls_):
            self._ids[c] = cl["id"]
            self._num[cl["id"]] = c
            self._members[c] = list(cl["members"])
            for item in self._members[c]:
                self._of[item] = c
            groups.setdefault(cl["key"] if self.same_key else "", []).append(c)
        for group, cs in groups.items():
            self._groups[group] = _Group(self.dim)
            self._groups[group].add(cs, _unit(sums[cs]))
        self._next = int(state["next"])
        return self


def _greedy(sim: np.ndarray, threshold: float) -> np.ndarray:
    """Leaders in order (rows not yet within threshold of one); each row -> its most similar leader."""
    covered = np.zeros(len(sim), dtype=bool)
    leaders: list[int] = []
    for j in range(len(sim)):
        if not covered[j]:
            leaders.append(j)
            covered |= sim[j] >= threshold
    lead = np.asarray(leaders)
    pick = lead[np.argmax(sim[:, lead], axis=1)]
    pick[lead] = lead
    return pick


def kmeans_groups(vectors: np.ndarray, k: int, seed: int = 0, niter: int = 20, spherical: bool = True,
                  max_points_per_centroid: int = 256) -> np.ndarray:
    """FAISS k-means labels (int64, one per row); deterministic for a seed.

    Spherical by default: the miner's vectors are unit length, so centroids should be too.
    FAISS trains on at most `max_points_per_centroid * k` sampled rows, then labels all rows.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"kmeans_groups: need a 2-d array, got shape {x.shape}")
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(int(k), len(x)))
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=spherical, verbose=False,
                      max_points_per_centroid=max_points_per_centroid)
    km.train(x)
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64)
