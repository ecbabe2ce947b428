"""Fine-tuning the captioning model on the user's corrections: which corrections train
and which are held out, the training job (a separate process, models.finetune.run),
and the registry of the adapters it produced. Qt-free and torch-free: the GUI, the
CLI and the caption worker all use it."""
