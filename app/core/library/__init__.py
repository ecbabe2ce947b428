"""The photo library: roots, scanning, file identity, folder watching."""
