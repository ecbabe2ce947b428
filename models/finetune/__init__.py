"""Fine-tuning a caption model on the user's corrections (LoRA/QLoRA), export, evaluation.

Heavy ML packages are imported only inside the training process, never at module level here.
"""
