"""Search by meaning: caption vectors in the library, kept in step with the captions by
the worker (sync), scanned in memory (index), fused with keyword search (hybrid)."""
