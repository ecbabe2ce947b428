"""Captioning through inference servers (issue 13): OpenAI-compatible HTTP servers
(llama-server, vLLM, Ollama, LM Studio, llama-cpp-python's own) as caption backends
beside the in-process llama.cpp engine. `backend` is the one interface both sides
implement; `client` speaks to one server.
"""
