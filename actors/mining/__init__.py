"""The weakness miner's parts: signatures, embeddings, FAISS clustering, the brief."""
