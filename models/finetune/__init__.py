"""Fine-tuning a catalog model on the user's corrections (LoRA / QLoRA, GGUF adapter export).

Only `train`, `dataset`, `export`, `run`, `evaluate` and `base_weights` may import torch &
co., and only inside the training process (`python -m models.finetune.run SPEC.json`); the
GUI and the caption worker use `spec`, `plan`, `install`, `adapter_check` and `metrics`.
"""
