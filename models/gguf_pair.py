"""Does this vision projector (mmproj) belong to this model? Checked from metadata.

llama.cpp accepts some mismatched pairs and then fails mid-caption (or worse, only
produces garbage); reading a few metadata keys first turns that into a clear
message before anything is loaded.
"""

from __future__ import annotations

from pathlib import Path

# Projector types llama.cpp writes, and the text architectures they are made for.
# Unknown projector types are only checked by their output size.
PROJECTOR_ARCHITECTURES = {
    "idefics3": {"llama", "smollm3"},  # SmolVLM / SmolVLM2
    "qwen2vl_merger": {"qwen2vl"},
    "qwen2.5vl_merger": {"qwen2vl"},
    "qwen3vl_merger": {"qwen3vl", "qwen3vlmoe"},
    "gemma3": {"gemma3"},
    "internvl": {"qwen2", "qwen3", "internlm2"},
    "lfm2": {"lfm2"},
}


class PairError(ValueError):
    """The two files do not make a multimodal model together."""


def _fields(path: Path) -> dict[str, object]:
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except Exception as exc:  # the reader raises plain ValueErrors/struct errors
        raise PairError(f"{path.name} is not a readable GGUF file ({exc})") from exc
    return {
        name: field.contents()
        for name, field in reader.fields.items()
        if not name.startswith("tokenizer.")
    }


def check_pair(model_path: Path, mmproj_path: Path) -> None:
    model = _fields(model_path)
    mmproj = _fields(mmproj_path)
    if mmproj.get("general.architecture") != "clip":
        raise PairError(f"{mmproj_path.name} is not a vision projector (mmproj) file")
    architecture = model.get("general.architecture")
    if architecture == "clip":
        raise PairError(f"{model_path.name} is a vision projector, not a language model")
    projector = mmproj.get("clip.projector_type")
    expected = PROJECTOR_ARCHITECTURES.get(str(projector))
    if expected is not None and architecture not in expected:
        raise PairError(
            f"the projector {mmproj_path.name} ({projector}) is made for a different model "
            f"than {model_path.name} ({architecture})"
        )
    width = model.get(f"{architecture}.embedding_length")
    projected = mmproj.get("clip.vision.projection_dim")
    if width is not None and projected is not None and width != projected:
        raise PairError(
            f"the projector outputs {projected} values per image token but the model "
            f"expects {width}: they belong to different models"
        )
