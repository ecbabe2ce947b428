"""The ML layer (catalog, runtime, prompts, fine-tuning). Never imports `app` or Qt."""
