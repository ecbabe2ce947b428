"""Reading media files: metadata probe, photo decode, video keyframes."""
