"""Fine-tuning: time, peak memory and before/after scores on 20 corrections (tiny model),
and documented estimates per 100 corrections for the catalog models.

Run:  .venv/bin/python tests/benchmarks/bench_finetune.py [--epochs N] [--json]

1. Measured: the real training process (`python -m models.finetune.run`) on the tiny
   random-weight SmolVLM fixture (tests/fixtures/models/smolvlm), 20 corrections (real
   photos from scikit-image, each with its own caption), 5 held-out corrections of other
   photos. Wall time per phase (from the event stream), training time, peak RSS of the
   training process, held-out BLEU-4 / ROUGE-L / CIDEr-D before and after (greedy, in
   llama.cpp), and the same scores on 5 of the trained photos (does llama.cpp reproduce
   what was learnt?). A random 2-layer model cannot generalise, so the held-out scores
   say nothing about caption quality; they show the evaluation running end to end.
2. Measured: this CPU's float32 matmul throughput (torch, all cores), the number the
   CPU estimates are scaled by.
3. Estimated, per 100 corrections x 3 epochs (the default), LoRA r=64 on q/v, batch 1,
   gradient checkpointing, photos at 512 px:
     FLOPs  = 6 x parameters x tokens x 300 (forward + backward through frozen weights +
              recomputation; LoRA's own FLOPs are <1 %)
     tokens = the catalog's image-token hint x 0.4 (hint is for ~1024 px) + 150 text
     CPU    = FLOPs / (measured matmul FLOP/s x 0.5: attention, norms, the optimizer and
              Python overhead keep a training step well under pure GEMM speed)
     GPU    = FLOPs / 15 TFLOP/s (a consumer card, RTX 3060/4060 Ti class: ~50-60 dense
              bf16 tensor TFLOP/s, ~25-30 % of it reached); QLoRA x 1/0.6 (dequantising)
     memory = models.finetune.plan.memory_gb: weights (fp32 4 B/param on CPU, bf16 2 B on
              GPU, ~1 B with QLoRA) + LoRA state + activations + 0.8 GB runtime
   The tiny model is no basis for extrapolating speed (per-step overhead dominates it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# (photo, crop box as fractions or None, caption): each item its own distinctive caption.
TRAIN = [
    ("astronaut", None, "An astronaut in a white suit holds a helmet."),
    ("chelsea", None, "A tabby cat looks at the camera."),
    ("coffee", None, "A cup of coffee on a saucer."),
    ("rocket", None, "A rocket stands on the launch pad."),
    ("camera", None, "A man with a camera on a tripod."),
    ("hubble_deep_field", None, "Thousands of galaxies in deep space."),
    ("immunohistochemistry", None, "Stained tissue under a microscope."),
    ("coins", None, "Old coins laid out in rows."),
    ("page", None, "A printed page of text."),
    ("moon", None, "The surface of the moon with craters."),
    ("text", None, "Handwritten words on a white sheet."),
    ("brick", None, "A wall of grey bricks."),
    ("grass", None, "A close-up of green grass."),
    ("gravel", None, "Small stones of gravel."),
    ("retina", None, "The back of a human eye."),
    ("astronaut", (0.0, 0.0, 0.5, 0.5), "The flag on the astronaut's shoulder."),
    ("coffee", (0.25, 0.2, 0.75, 0.8), "Dark coffee seen from above."),
    ("rocket", (0.3, 0.0, 0.7, 1.0), "The tall white body of a rocket."),
    ("chelsea", (0.2, 0.1, 0.6, 0.6), "The face of a cat with green eyes."),
    ("hubble_deep_field", (0.0, 0.0, 0.4, 0.4), "A bright spiral galaxy."),
]
HELDOUT = [
    ("colorwheel", None, "A wheel of all colours."),
    ("clock", None, "A clock on a wall."),
    ("logo", None, "The logo of a software library."),
    ("horse", None, "The outline of a horse."),
    ("microaneurysms", None, "Small dots in an eye scan."),
]
PROMPT = {
    "id": "short",
    "name": "Short caption",
    "instruction": "Write one short sentence in {language} that says what this photo shows, "
    "then up to 8 one-word tags.{context}",
}
GPU_FLOPS = 15e12
CPU_EFFICIENCY = 0.5
QLORA_SPEED = 0.6
CORRECTIONS, EPOCHS_DEFAULT = 100, 3


def photo(images: Path, index: int, name: str, crop: tuple[float, ...] | None) -> Path:
    import numpy as np
    from PIL import Image
    from skimage import data

    array = getattr(data, name)()
    if array.dtype == bool:
        array = (array * 255).astype(np.uint8)
    image = Image.fromarray(array).convert("RGB")
    if crop:
        w, h = image.size
        image = image.crop((int(crop[0] * w), int(crop[1] * h), int(crop[2] * w), int(crop[3] * h)))
    image.thumbnail((128, 128))  # as prepared for the tiny model's 128 px input
    path = images / f"{index:02d}-{name}.jpg"
    image.save(path, "JPEG", quality=90)
    return path


def examples(images: Path, items: list[tuple[str, Any, str]], prefix: str) -> list[dict[str, Any]]:
    out = []
    for index, (name, crop, caption) in enumerate(items):
        out.append(
            {
                "id": f"{prefix}{index:02d}-{name}",
                "images": [str(photo(images, index + (100 if prefix else 0), name, crop))],
                "prompt": PROMPT,
                "language": "English",
                "target": {"caption": caption, "tags": caption.lower().split()[1:3],
                           "language": "English"},
            }
        )  # fmt: skip
    return out


def run_training(work: Path, epochs: int) -> tuple[dict[str, Any], dict[str, float], list[Any]]:
    fixture = ROOT / "tests" / "fixtures" / "models" / "smolvlm"
    images = work / "images"
    images.mkdir()
    spec = {
        "version": 1,
        "model_id": "tiny-smolvlm",
        "base_weights": {"repo": None, "local_dir": str(fixture / "hf")},
        "cache_dir": str(work / "cache"),
        "base_gguf": str(fixture / "model.gguf"),
        "mmproj": str(fixture / "mmproj.gguf"),
        "output_dir": str(work / "adapter"),
        "lora": {"rank": 32, "alpha": 64, "dropout": 0.0,
                 "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                    "up_proj", "down_proj"]},
        "train": {"epochs": epochs, "learning_rate": 5e-3, "seed": 0},
        "examples": examples(images, TRAIN, ""),
        "heldout": examples(images, HELDOUT, "held-"),
        "answer_limits": {"caption_chars": 64, "max_tags": 3},
    }  # fmt: skip
    (work / "spec.json").write_text(json.dumps(spec))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "models.finetune.run", str(work / "spec.json")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=work,
    )  # fmt: skip
    assert process.stdout is not None
    phases: dict[str, float] = {}
    events, current, since = [], None, started
    for line in process.stdout:
        event = json.loads(line)
        events.append(event)
        now = time.perf_counter()
        if event["event"] in ("phase", "done", "error", "cancelled"):
            if current is not None:
                phases[current] = phases.get(current, 0.0) + now - since
            current, since = event.get("phase"), now
    process.wait()
    phases["total"] = time.perf_counter() - started
    if events[-1]["event"] != "done":
        raise SystemExit(f"training failed: {events[-1]}")
    return events[-1], phases, spec["examples"]


def seen_scores(
    work: Path, trained: list[dict[str, Any]]
) -> tuple[dict[str, float], dict[str, float]]:
    """Greedy llama.cpp captions of 5 trained photos without and with the adapter."""
    from models.finetune import evaluate
    from models.finetune.spec import TrainingSpec

    spec = TrainingSpec.from_json((work / "spec.json").read_text())
    chosen = [e for e in spec.examples][:5]
    limits = evaluate.greedy(spec.answer_limits)
    never = lambda: False  # noqa: E731
    with evaluate.CaptionEngine(evaluate.engine_config(spec, None)) as engine:
        before = evaluate.evaluate(engine, chosen, never, limits).metrics
    with evaluate.open_with_adapter(spec, work / "adapter" / "adapter.gguf") as engine:
        after = evaluate.evaluate(engine, chosen, never, limits).metrics
    return before, after


def matmul_flops() -> float:
    import torch

    size, runs = 1024, 20
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(runs):
        a @ b
    return 2 * size**3 * runs / (time.perf_counter() - started)


def estimates(cpu_flops: float) -> list[dict[str, Any]]:
    from models.catalog import load_catalog
    from models.finetune import plan

    rows = []
    for entry in load_catalog():
        tokens = plan.tokens_per_example(entry)
        flops = 6 * entry.params_billion * 1e9 * tokens * CORRECTIONS * EPOCHS_DEFAULT
        rows.append(
            {
                "model": entry.id,
                "params_b": entry.params_billion,
                "tokens_per_example": round(tokens),
                "cpu_hours": flops / (cpu_flops * CPU_EFFICIENCY) / 3600,
                "cpu_gb_fp32": plan.memory_gb(entry.params_billion, "float32", 64),
                "gpu_minutes_lora": flops / GPU_FLOPS / 60,
                "gpu_gb_lora_bf16": plan.memory_gb(entry.params_billion, "bfloat16", 64),
                "gpu_minutes_qlora": flops / (GPU_FLOPS * QLORA_SPEED) / 60,
                "gpu_gb_qlora": plan.memory_gb(entry.params_billion, "qlora", 64),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="fine-tuning benchmark")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        work = Path(tmp)
        done, phases, trained = run_training(work, args.epochs)
        seen_before, seen_after = seen_scores(work, trained)
    cpu_flops = matmul_flops()
    rows = estimates(cpu_flops)
    steps = len(TRAIN) * args.epochs
    print(f"\n== Measured: tiny SmolVLM fixture, {len(TRAIN)} corrections x {args.epochs} "
          f"epochs = {steps} steps, {len(HELDOUT)} held-out ==")  # fmt: skip
    print(f"method: {done['method']} ({done['method_reason']})")
    rate = steps / done["train_seconds"]
    print(f"training {done['train_seconds']:.1f} s ({rate:.1f} steps/s), final loss "
          f"{done['final_loss']:.3f}, peak RSS {done['peak_rss_mb']:.0f} MB")  # fmt: skip
    print("wall time per phase: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    for label, before, after in (
        ("held-out (unseen photos)", done["metrics_before"], done["metrics_after"]),
        ("5 trained photos", seen_before, seen_after),
    ):
        print(f"{label:26s} " + "  ".join(
            f"{k} {before[k]:.3f} -> {after[k]:.3f}" for k in ("bleu4", "rouge_l", "cider")
        ))  # fmt: skip
    print(f"\nthis CPU: float32 matmul {cpu_flops / 1e9:.0f} GFLOP/s (all threads); "
          f"estimates use x{CPU_EFFICIENCY} of it")  # fmt: skip
    print(f"\n== Estimated per {CORRECTIONS} corrections x {EPOCHS_DEFAULT} epochs "
          "(LoRA r=64 q/v, 512 px) ==")  # fmt: skip
    header = (f"{'model':15s} {'params':>6s} {'tok/ex':>6s} | {'CPU h':>6s} {'fp32GB':>6s} | "
              f"{'GPU min':>7s} {'bf16 GB':>7s} | {'QLoRA min':>9s} {'VRAM GB':>7s}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:15s} {r['params_b']:6.2f} {r['tokens_per_example']:6d} | "
              f"{r['cpu_hours']:6.1f} {r['cpu_gb_fp32']:6.1f} | {r['gpu_minutes_lora']:7.1f} "
              f"{r['gpu_gb_lora_bf16']:7.1f} | {r['gpu_minutes_qlora']:9.1f} "
              f"{r['gpu_gb_qlora']:7.1f}")  # fmt: skip
    if args.json:
        print(json.dumps({"done": done, "phases": phases, "seen_before": seen_before,
                          "seen_after": seen_after, "cpu_flops": cpu_flops,
                          "estimates": rows}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
