"""The fine-tune screen's words: the word-level difference between the model's caption and
the user's (escaped, highlighted), the memory line that never says "0.0 GB", each score in
plain words with its numbers, the verdict, and the empty states that say the next step."""

from __future__ import annotations

import time

import pytest
from pytestqt.qtbot import QtBot

from app.core.finetune.adapters import AdapterRecord
from app.core.finetune.corrections import TrainingCorrection
from app.core.finetune.events import Prepared
from app.ui.finetune.adapters import detail_text
from app.ui.finetune.data import NO_CORRECTIONS, Counts, PlanView
from app.ui.finetune.plan import PlanPanel
from app.ui.finetune.progress import ProgressPanel
from app.ui.finetune.results import ResultsPanel
from app.ui.finetune.table import PICK_TEXT, ChangesPane
from app.ui.finetune.words import (
    Piece,
    change_summary,
    diff_html,
    memory_text,
    metric_sentence,
    verdict,
    word_diff,
)
from app.ui.theme import tone


# -- the difference -------------------------------------------------------------------------
def test_word_diff_is_word_level() -> None:
    assert word_diff("a dog on the grass", "a black dog on grass") == [
        Piece("same", "a"),
        Piece("added", "black"),
        Piece("same", "dog on"),
        Piece("removed", "the"),
        Piece("same", "grass"),
    ]
    # A changed word is one word removed and one added, never letters.
    assert word_diff("a cat", "a cap") == [
        Piece("same", "a"),
        Piece("removed", "cat"),
        Piece("added", "cap"),
    ]
    # Spacing is not a change.
    assert word_diff("a  cat\n", " a cat") == [Piece("same", "a cat")]


def test_word_diff_empty_cases() -> None:
    assert word_diff("", "") == []
    assert word_diff("", "a new caption") == [Piece("added", "a new caption")]
    assert word_diff("the old one", "  ") == [Piece("removed", "the old one")]
    assert diff_html("", "", "red", "green") == ("", "")
    assert change_summary("same words", "same  words") == "No words changed (only spacing or tags)"


def test_diff_html_marks_and_escapes() -> None:
    model, user = diff_html("a <b>dog</b> & cat", "a dog & <i>cat</i>", "#aa0000", "#00aa00")
    struck = '<s style="color: #aa0000; text-decoration: line-through">'
    assert model == f"a {struck}&lt;b&gt;dog&lt;/b&gt;</s> &amp; {struck}cat</s>"
    assert user == (
        'a <b style="color: #00aa00; font-weight: 600">dog</b> &amp; '
        '<b style="color: #00aa00; font-weight: 600">&lt;i&gt;cat&lt;/i&gt;</b>'
    )
    assert "<b>dog" not in model and "<i>" not in user  # caption text is never markup


def test_change_summary_counts_words_with_plurals() -> None:
    assert change_summary("a b c", "a x c d") == "1 word removed, 2 added"
    assert change_summary("a b", "a b c") == "1 word added"
    assert change_summary("a b c", "a") == "2 words removed"


def correction(model: str, user: str) -> TrainingCorrection:
    return TrainingCorrection(
        item_id=7, keyframe_id=None, timestamp=None, path="/photos/dog.jpg", kind="photo",
        mtime_ns=0, size=0, thumbnail=None, model_caption=model, model_tags=(),
        user_caption=user, user_tags=(), model_id=None, prompt_id=None,
        corrected_at=time.time(), excluded=False, heldout=False,
    )  # fmt: skip


def test_changes_pane_highlights_a_correction(qtbot: QtBot) -> None:
    pane = ChangesPane()
    qtbot.addWidget(pane)
    assert pane.text() == PICK_TEXT
    pane.show_row(correction("a dog on the grass <3", "a black dog on grass <3"))
    text = pane.text()
    removed, added = tone("error", pane.palette()).name(), tone("ok", pane.palette()).name()
    assert f'<s style="color: {removed}; text-decoration: line-through">the</s>' in text
    assert f'<b style="color: {added}; font-weight: 600">black</b>' in text
    assert "&lt;3" in text and "<3" not in text
    assert "1 word removed, 1 added" in text
    pane.show_row(None)
    assert pane.text() == PICK_TEXT


# -- memory ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("needed", "available", "text"),
    [
        (5.1, 8.0, "about 5.1 GB needed · 8.0 GB available"),
        (0.04, 8.0, "under 0.1 GB needed · 8.0 GB available"),
        (0.09, 8.0, "under 0.1 GB needed · 8.0 GB available"),
        (0.0, 8.0, "8.0 GB available"),  # unknown: the planner has no size for the model
        (2.0, 0.0, "about 2.0 GB needed"),
        (0.0, 0.0, ""),
    ],
)
def test_memory_text_never_says_zero(needed: float, available: float, text: str) -> None:
    assert memory_text(needed, available) == text
    assert "0.0 GB" not in memory_text(needed, available)


def test_plan_panel_memory_line_for_an_unknown_estimate(qtbot: QtBot) -> None:
    panel = PlanPanel()
    qtbot.addWidget(panel)
    unknown = PlanView(True, None, method="lora", device="cpu", memory_available_gb=7.5)
    panel.set_plan(unknown)
    assert panel.memory_label.text() == "7.5 GB available"
    panel.set_plan(PlanView(True, None, method="lora", device="cpu", memory_needed_gb=0.03))
    assert panel.memory_label.text() == "under 0.1 GB needed"
    panel.set_plan(PlanView(True, None, method="lora", device="cpu"))
    assert panel.memory_label.text() == "—"


# -- scores ---------------------------------------------------------------------------------
def test_metric_sentences_keep_the_numbers() -> None:
    assert metric_sentence("cider", 0.41, 0.63) == (
        "CIDEr 0.410 → 0.630: the new captions share more of the distinctive words you use "
        "(higher is better)"
    )
    assert metric_sentence("rouge_l", 0.5, 0.4) == (
        "ROUGE-L 0.500 → 0.400: the new captions keep shorter runs of your wording "
        "(higher is better)"
    )
    assert metric_sentence("bleu4", 0.2, 0.2).startswith(
        "BLEU-4 0.200 → 0.200: the new captions repeat as many of your exact 4-word phrases"
    )
    assert metric_sentence("bleu4", None, 0.3).startswith("BLEU-4 0.300: ")


def test_verdict_in_words() -> None:
    before = {"cider": 0.3, "rouge_l": 0.2, "bleu4": 0.1}
    up = {"cider": 0.6, "rouge_l": 0.4, "bleu4": 0.2}
    down = {"cider": 0.1, "rouge_l": 0.1, "bleu4": 0.05}
    mixed = {"cider": 0.6, "rouge_l": 0.1, "bleu4": 0.1}
    assert verdict(before, up) == "Captions moved closer to yours on all three measures."
    assert verdict(before, down) == "Captions moved further from yours on all three measures."
    assert verdict(before, mixed) == (
        "Mixed: closer to yours on 1 of 3 measures, further on 1, unchanged on 1."
    )
    assert (
        verdict(before, before) == "Captions are as close to yours as before on all three measures."
    )
    assert verdict(before, {**before, "cider": 0.6}) == (
        "Captions moved closer to yours on 1 of 3 measures; the others did not change."
    )
    assert verdict(None, None) == ""


def test_results_panel_says_each_score_in_words(qtbot: QtBot) -> None:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.verdict.isVisible() and not panel.metric_words.isVisible()
    assert "press Start fine-tuning" in panel.status.text()
    panel.show_metrics(
        {"cider": 0.41, "rouge_l": 0.30, "bleu4": 0.10},
        {"cider": 0.63, "rouge_l": 0.35, "bleu4": 0.12},
    )
    assert panel.metrics.item(0, 0).text() == "0.410"  # the numbers stay
    assert panel.verdict.text() == "Captions moved closer to yours on all three measures."
    lines = panel.metric_words.text().split("\n")
    assert lines[0].startswith("CIDEr 0.410 → 0.630: the new captions share more")
    assert lines[1].startswith("ROUGE-L 0.300 → 0.350: ")
    assert lines[2].startswith("BLEU-4 0.100 → 0.120: ")
    assert panel.verdict.isVisible() and panel.metric_words.isVisible()


# -- empty states and plurals -----------------------------------------------------------------
def test_no_corrections_says_how_to_make_one() -> None:
    text = Counts(0, 0, 0, 0, 0).text()
    assert text == NO_CORRECTIONS
    assert text.startswith("No corrections yet.") and "(F2)" in text and "(Ctrl+S)" in text


def test_counts_plurals_and_all_excluded() -> None:
    assert Counts(1, 1, 0, 0, 1).text() == (
        "1 correction: 1 to train on, 0 held out for scoring, 0 excluded"
    )
    assert Counts(2, 0, 0, 2, 0).text().endswith("Tick Include on a row to train on it again.")


def test_adapter_detail_in_words_and_plurals() -> None:
    record = AdapterRecord(
        id="m-v1", model_id="m", version=1, created_at=0.0, gguf_path="a.gguf",
        peft_dir=None, base_gguf="m.gguf", method="lora", settings={"train": {"epochs": 1}},
        corrections_used=1, heldout_count=1, metrics_before={"cider": 0.3},
        metrics_after={"cider": 0.5}, samples=None, train_seconds=None, active=False,
        activated_at=None,
    )  # fmt: skip
    lines = detail_text(record).split("\n")
    assert lines[0] == "m-v1: trained on 1 corrected photo or video, scored on 1."
    assert lines[1] == "Captions moved closer to yours on the one measure scored."
    assert lines[2].startswith("CIDEr 0.300 → 0.500: the new captions share more")
    assert lines[3] == "1 epoch"


def test_progress_counts_read_in_the_singular(qtbot: QtBot) -> None:
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.show_prepared(Prepared(examples=1, heldout=0, skipped=[]))
    assert panel.numbers.text() == "1 photo or video to train on, 0 held out for scoring"
    panel.show_prepared(Prepared(examples=4, heldout=1, skipped=[]))
    assert panel.numbers.text() == "4 photos or videos to train on, 1 held out for scoring"
