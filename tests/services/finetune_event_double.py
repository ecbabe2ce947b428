"""A TEST DOUBLE of `captionist finetune --json`: prints the contract's event stream
without training anything, so the bridge's parsing, pacing and endings can be checked in
milliseconds. The real command is exercised by test_finetune_bridge.py's real-run tests.

Usage: python finetune_event_double.py SCENARIO [STEPS] [DELAY_S] [ADAPTER_ID]
  ok       phases, steps, evaluation, done, registered, activated; exit 0
  worse    like ok, but not_activated (scored worse); exit 0
  slow     steps forever (until SIGTERM: prints "cancelled", exit 2)
  error    an error event; exit 1
  crash    a traceback on stderr, no event; exit 3
  partial  the last event without a trailing newline; exit 0
"""

from __future__ import annotations

import json
import signal
import sys
import time


def emit(event: dict[str, object], end: str = "\n") -> None:
    sys.stdout.write(json.dumps(event) + end)
    sys.stdout.flush()


def main() -> int:
    scenario = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    adapter = sys.argv[4] if len(sys.argv) > 4 else "m-v1"

    def on_term(*_: object) -> None:
        emit({"event": "cancelled"})
        sys.exit(2)

    signal.signal(signal.SIGTERM, on_term)
    print("double: starting", file=sys.stderr, flush=True)
    if scenario == "crash":
        print("Traceback (most recent call last):", file=sys.stderr)
        print("RuntimeError: the double fell over", file=sys.stderr, flush=True)
        return 3
    if scenario == "error":
        emit({"event": "error", "message": "only 2 corrections can be trained on"})
        return 1
    emit({"event": "prepared", "examples": 4, "heldout": 2, "skipped": []})
    emit({"event": "phase", "phase": "download", "message": "base weights"})
    emit({"event": "download", "done_bytes": 3_000_000_000, "total_bytes": 6_000_000_000})
    emit({"event": "phase", "phase": "train", "message": "training"})
    total = 10**9 if scenario == "slow" else steps
    for step in range(1, total + 1):
        emit(
            {
                "event": "step",
                "step": step,
                "total_steps": total,
                "epoch": (step - 1) / max(1, total) * 3,
                "epochs": 3,
                "loss": 3.0 / step,
                "elapsed_seconds": step * 0.1,
                "eta_seconds": (total - step) * 0.1,
            }
        )
        time.sleep(delay)
    before = {"bleu4": 0.1, "rouge_l": 0.2, "cider": 0.3}
    after = (
        {"bleu4": 0.05, "rouge_l": 0.1, "cider": 0.1}
        if scenario == "worse"
        else {"bleu4": 0.4, "rouge_l": 0.5, "cider": 0.9}
    )
    emit(
        {
            "event": "evaluated",
            "which": "before",
            "metrics": before,
            "samples": [{"id": "item-1", "reference": "a cat", "candidate": "a dog"}],
        }
    )
    emit(
        {
            "event": "evaluated",
            "which": "after",
            "metrics": after,
            "samples": [{"id": "item-1", "reference": "a cat", "candidate": "a cat"}],
        }
    )
    emit(
        {
            "event": "done",
            "adapter_gguf": "/x/adapter.gguf",
            "method": "lora",
            "metrics_before": before,
            "metrics_after": after,
        }
    )
    emit({"event": "registered", "adapter": {"id": adapter, "version": 1}})
    reason = f"{adapter} was not activated: it scores worse (CIDEr 0.300 → 0.100)"
    last = (
        {"event": "not_activated", "adapter_id": adapter, "reason": reason}
        if scenario == "worse"
        else {"event": "activated", "adapter_id": adapter}
    )
    emit(last, end="" if scenario == "partial" else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
