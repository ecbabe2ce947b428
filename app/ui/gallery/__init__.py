"""The thumbnail grid: an ids-only model, its delegate and view, listing and item actions."""
