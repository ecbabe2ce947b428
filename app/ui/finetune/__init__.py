"""The "fine-tune on my corrections" screen: corrections, plan, progress, results, adapters."""
