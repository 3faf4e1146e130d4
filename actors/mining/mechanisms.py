"""The mechanism vocabulary: a model's free-text mechanism names mapped onto one name per behaviour.

A real model names the same behaviour many ways ("env_var_lost_between_commands",
"state_not_persisted_across_shells", "forgot_cd_between_commands"). The cluster index
groups failures by exact signature key (as the paper does), so the names are first
merged here: each label becomes a text of its name and one-line description, with the
failure domain's synonyms folded into shared concept words (`concepts`), embedded, and
matched with FAISS against the names known so far (the extractor's seeded with their
descriptions). A close enough match takes the known name; otherwise the label is a new
mechanism. The hashing embedder cannot know that "env var" and "cd" are both shell
state; the concept table can, and it stays deterministic, inspectable and offline.
"""

from __future__ import annotations

import re

import faiss
import msgspec
import numpy as np

from actors.mining.embed import HashingEmbedder, tokens
from actors.mining.state import MechanismEntry as Entry
from harnesses.vocabulary import DETECTED_ONLY, MECHANISMS

STATE_VERSION = 1
THRESHOLD = 0.4
"""Cosine of concept texts at or above which a name is a known mechanism. On the labels in
tests/actors/test_mechanisms.py, synonyms of a known name score >= 0.44 against it and other
mechanisms <= 0.3; a miss makes a new mechanism (a split cluster), never a false merge."""

DESCRIPTIONS: dict[str, str] = {n: m.description for n, m in MECHANISMS.items() if n not in DETECTED_ONLY}
"""What each nameable mechanism means (a model never names a detected-only one)."""

# Phrases first (they contain words the word table would map differently), then words.
_PHRASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:not|never|no longer|n't|didn'?t|doesn'?t|don'?t|fail(?:s|ed)? to|without)\s+"
                r"(?:be(?:ing)?\s+)?(?:persist\w*|kept|keep\w*|carr\w*|preserv\w*|retain\w*|surviv\w*|shared?)"),
     "lost"),
    (re.compile(r"\b(?:not|never)\s+(?:be(?:en)?\s+)?(?:installed|available|present on the system)\b|"
                r"command not found|no such command"), "missing tool"),
    (re.compile(r"\b(?:not|never|without)\s+(?:writ\w*|wrote|edit\w*|implement\w*)|\bno (?:\w+ )?(?:was |were )?"
                r"(?:ever )?(?:writ\w*|edit\w*)"), "nowrite"),
    (re.compile(r"\bworking director(?:y|ies)\b"), "shellstate"),
    (re.compile(r"\bre ?run\w*|\bre ?tr(?:y|ied|ies|ying)\b"), "repeat"),
    (re.compile(r"\b(?:not|never|without)\s+(?:verif\w*|check\w*|test\w*|confirm\w*)"), "premature"),
    (re.compile(r"\btoo (?:early|soon)\b|\bbefore (?:finish\w*|verif\w*|check\w*|the (?:output|file|artifact))"),
     "premature"),
    (re.compile(r"\b(?:invalid|malformed|broken|bad|unparse?able) (?:json|reply|response|output format)\b"),
     "malformed reply"),
    (re.compile(r"\bran out of time\b|\btime ?out\b|\btimed out\b"), "timeout"),
]

_CONCEPTS: dict[str, tuple[str, ...]] = {
    "shellstate": ("cd", "chdir", "cwd", "pwd", "directory", "directories", "dir", "workdir", "env", "environment",
                   "variable", "variables", "var", "vars", "export", "exports", "exported", "venv", "virtualenv",
                   "activate", "activated", "activation", "source", "sourced", "state", "session", "sessions",
                   "alias"),
    "lost": ("lost", "lose", "loses", "losing", "forgot", "forget", "forgets", "forgetting", "forgotten", "dropped",
             "drop", "drops", "reset", "resets", "gone", "vanished", "wiped", "discarded", "unset", "ephemeral",
             "stateless", "nonpersistent"),
    "across": ("between", "across", "separate", "separately", "subsequent", "successive", "fresh", "isolated"),
    "command": ("command", "commands", "cmd", "cmds", "shell", "shells", "subshell", "subshells", "call", "calls",
                "invocation", "invocations", "keystroke", "keystrokes", "process", "processes", "terminal",
                "terminals"),
    "completion": ("complete", "completion", "completed", "done", "finish", "finished", "finishing", "declare",
                   "declared", "declaring", "claimed", "claim", "claims", "submit", "submitted", "success"),
    "premature": ("premature", "prematurely", "early", "unverified", "unchecked", "hasty", "hastily", "rushed"),
    "artifact": ("artifact", "artifacts", "deliverable", "deliverables", "output", "outputs", "file", "files"),
    "missing": ("missing", "absent", "nonexistent", "unavailable", "lacking", "lacks", "lack", "uninstalled"),
    "tool": ("tool", "tools", "binary", "binaries", "program", "programs", "package", "packages", "dependency",
             "dependencies", "executable", "executables", "utility", "utilities", "installed", "install", "library"),
    "repeat": ("repeat", "repeated", "repeating", "repeats", "retry", "retried", "retrying", "retries", "rerun",
               "reran", "rerunning", "again", "loop", "looped", "looping", "loops", "same", "identical", "verbatim",
               "stuck"),
    "fail": ("fail", "failed", "failing", "fails", "failure", "failures", "error", "errors", "erroring"),
    "explore": ("explore", "exploration", "exploring", "explored", "inspect", "inspection", "inspecting", "inspected",
                "browse", "browsing", "investigate", "investigating", "survey", "surveying", "reading", "listing"),
    "nowrite": ("nowrite", "stall", "stalled", "stalling", "procrastinated", "procrastinating", "paralysis"),
    "malformed": ("malformed", "unparseable", "unparsable", "invalid", "fence", "fences", "fenced", "markdown"),
    "reply": ("reply", "replies", "response", "responses", "action", "actions", "json", "format", "formatting",
              "syntax", "parse"),
    "wrong": ("wrong", "incorrect", "mistaken", "buggy", "bug", "logic"),
    "solution": ("solution", "answer", "result", "results", "implementation"),
    "timeout": ("timeout", "deadline", "slow", "time"),
}
_WORD = {w: concept for concept, words in _CONCEPTS.items() for w in words}
_STOP = frozenset("a an the to of in on and or but was were is are be been it its this that these so then for with "
                  "by as at from into had has have did do does agent model which when while after before each every "
                  "one all any ran run runs running used using use over starts started own".split())


def concepts(text: str) -> str:
    """`text` with the failure domain's synonyms folded into concept words and stopwords dropped."""
    t = " ".join(tokens(text.replace("_", " ")))
    for pattern, concept in _PHRASES:
        t = pattern.sub(f" {concept} ", t)
    out = [_WORD.get(w, w) for w in t.split() if w not in _STOP]
    return " ".join(out)


def mechanism_text(name: str, description: str = "") -> str:
    """What is embedded for a mechanism: its name twice (the name is the label) and its description."""
    words = name.replace("_", " ")
    return concepts(f"{words}. {words}. {description}")


class MechanismVocabulary:
    """Known mechanism names, matched by FAISS inner product of unit concept-text vectors."""

    def __init__(self, threshold: float = THRESHOLD, entries: list[Entry] | None = None) -> None:
        self.threshold = threshold
        self._embedder = HashingEmbedder()
        self._entries: list[Entry] = []
        self._index = faiss.IndexFlatIP(self._embedder.dim)
        seed = entries if entries is not None else [Entry(name=n, description=DESCRIPTIONS.get(n, ""))
                                                     for n in MECHANISMS if n not in DETECTED_ONLY]
        for e in seed:
            self._add(e)

    def _add(self, entry: Entry) -> None:
        self._entries.append(entry)
        self._index.add(self._embedder.embed([mechanism_text(entry.name, entry.description)]))

    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def catalogue(self, limit: int = 24) -> dict[str, str]:
        """Known names and their descriptions, for the labeller's prompt (so a model can reuse a name)."""
        return {e.name: e.description for e in self._entries[:limit]}

    def nearest(self, name: str, description: str = "") -> tuple[str, float]:
        vec = self._embedder.embed([mechanism_text(name, description)])
        sim, row = self._index.search(vec, 1)
        return self._entries[int(row[0, 0])].name, float(sim[0, 0])

    def canonical(self, name: str, description: str = "") -> str:
        """The known name for this mechanism; a name too far from all known ones becomes known itself."""
        for e in self._entries:
            if name == e.name or name in e.aliases:
                return e.name
        known, sim = self.nearest(name, description)
        if sim >= self.threshold:
            i = self.names().index(known)
            e = self._entries[i]
            self._entries[i] = msgspec.structs.replace(e, aliases=e.aliases + (name,))
            return known
        self._add(Entry(name=name, description=description))
        return name

    def to_state(self) -> dict:
        return {"version": STATE_VERSION, "threshold": self.threshold,
                "entries": msgspec.to_builtins(self._entries)}

    @classmethod
    def from_state(cls, state: dict | None, threshold: float = THRESHOLD) -> MechanismVocabulary:
        if not state:
            return cls(threshold)
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"mechanism state version {state.get('version')!r}; this code reads {STATE_VERSION}")
        return cls(float(state["threshold"]), msgspec.convert(state["entries"], list[Entry]))


def similarity(a: str, b: str, description_a: str = "", description_b: str = "") -> float:
    """Cosine of two mechanisms' concept texts (for tests and for reading the threshold)."""
    v = HashingEmbedder().embed([mechanism_text(a, description_a), mechanism_text(b, description_b)])
    return float(np.dot(v[0], v[1]))
