"""Model cards: the metadata is read back with huggingface_hub's own parser (model-index, datasets, languages)."""

from __future__ import annotations

from huggingface_hub import ModelCard, metadata_load

from xladjust.model_card import CardEvaluation, ModelCardInfo, render_model_card

XNLI_ES = CardEvaluation(
    "predict_es",
    "text-classification",
    "Natural Language Inference",
    "facebook/xnli",
    "XNLI (es)",
    "es",
    "test",
    (("accuracy", "accuracy", "Accuracy"),),
)
MLQA = CardEvaluation(
    "eval_mlqa.es.en",
    "question-answering",
    "Extractive Question Answering",
    "facebook/mlqa",
    "MLQA (es.en)",
    "mlqa.es.en",
    "test",
    (("f1", "f1", "F1 (official rules)"), ("squad_f1", "f1", "F1 (SQuAD v1.1 rules)")),
)


def write_card(tmp_path, info: ModelCardInfo, results: dict) -> ModelCard:
    path = tmp_path / "README.md"
    path.write_text(render_model_card(info, results), encoding="utf-8")
    return ModelCard.load(path)


def test_model_index_holds_every_reported_metric(tmp_path):
    info = ModelCardInfo(
        "xnli-run: NLI",
        "summary",
        "google-bert/bert-base-multilingual-cased",
        ["en", "es"],
        tags=["xnli"],
        evaluations=[XNLI_ES, MLQA],
        model_name="xnli-run",
    )
    # squad_f1 absent (not reported): left out; predict_es_accuracy an int: a number all the same.
    card = write_card(tmp_path, info, {"predict_es_accuracy": 1, "eval_mlqa.es.en_f1": 61.25, "train_loss": 0.3})
    results = card.data.eval_results
    assert card.data.model_name == "xnli-run"
    assert [
        (r.task_type, r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type, r.metric_value)
        for r in results
    ] == [
        ("text-classification", "facebook/xnli", "es", "test", "accuracy", 1.0),
        ("question-answering", "facebook/mlqa", "mlqa.es.en", "test", "f1", 61.25),
    ]
    assert results[1].dataset_name == "MLQA (es.en)" and results[1].metric_name == "F1 (official rules)"
    assert results[0].task_name == "Natural Language Inference"
    metadata = metadata_load(tmp_path / "README.md")
    assert metadata["language"] == ["en", "es"] and metadata["library_name"] == "transformers"
    assert metadata["base_model"] == "google-bert/bert-base-multilingual-cased"
    assert metadata["tags"] == ["xladjust", "xnli"]
    assert metadata["model-index"][0]["results"][0]["dataset"]["type"] == "facebook/xnli"


def test_card_without_results_has_no_model_index_and_lists_datasets(tmp_path):
    info = ModelCardInfo(
        "adjusted",
        "summary",
        str(tmp_path),
        ["en", "es", "en"],
        datasets=["Helsinki-NLP/opus-100"],
        evaluations=[XNLI_ES],
    )
    card = write_card(tmp_path, info, {})
    metadata = metadata_load(tmp_path / "README.md")
    assert metadata["datasets"] == ["Helsinki-NLP/opus-100"] and metadata["language"] == ["en", "es"]
    assert "model-index" not in metadata and "base_model" not in metadata  # a local folder is no Hub id
    assert card.data.eval_results is None
