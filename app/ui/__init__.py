"""Windows, item models, delegates and dialogs (the only layer with widgets)."""
