"""The actors of self-harness: plain classes, each with its config next to it, made remote at the
composition root (cluster/). They import only harnesses/ (ARCHITECTURE.md)."""
