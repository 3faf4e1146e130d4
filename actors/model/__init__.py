"""Model backends behind one `Model` protocol: sim (default), openai, vllm."""
