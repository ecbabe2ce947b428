"""The user's inference servers: the registry, API keys, and testing a server (issue 13)."""
