"""The scripts' metrics as `evaluate` modules: loaded from their files offline (no Hub, no network), equal to the
functions that compute them on the fixtures and on the official SQuAD v1.1 and MLQA scripts' known behaviours,
combinable, and the path every script's numbers take."""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import evaluate
import numpy as np
import pytest
import torch
from datasets import Dataset

import run_belebele
import run_ner
import run_qa
import run_xnli
from tests.tiny_models import FIXTURES
from xladjust.analysis.retrieval import sentence_retrieval_accuracy
from xladjust.analysis.retrieval_accuracy import RetrievalAccuracy
from xladjust.analysis.sentence_retrieval import retrieve_sentences
from xladjust.data.tatoeba import make_bitext
from xladjust.errors import InputError
from xladjust.metric_modules import METRIC_MODULES, load_metric, metric_path, module_files
from xladjust.tasks.accuracy import Accuracy
from xladjust.tasks.eval_sets import EvalSet
from xladjust.tasks.metrics import accuracy, ner_scores
from xladjust.tasks.ner import NER_LABELS, read_ner_file
from xladjust.tasks.nli import NLI_LABELS
from xladjust.tasks.qa import data as qa_data
from xladjust.tasks.qa.metrics import MLQA_RULES, SQUAD_RULES, evaluate_predictions, references_from_examples
from xladjust.tasks.qa.mlqa import Mlqa
from xladjust.tasks.qa.squad_v1 import SquadV1
from xladjust.tasks.seqeval_strict import SeqevalStrict
from xladjust.tasks.tagging import TAGGING_TASKS
from xladjust.tasks.word_accuracy import WordAccuracy

LANGUAGES = ("es", "ru", "vi", "hi")
CLASSES = {
    "accuracy": Accuracy,
    "seqeval_strict": SeqevalStrict,
    "squad_v1": SquadV1,
    "mlqa": Mlqa,
    "retrieval_accuracy": RetrievalAccuracy,
    "word_accuracy": WordAccuracy,
}


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection or Hub lookup fails the test: the modules must come from their files."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(evaluate.loading, "HubEvaluationModuleFactory", refuse)
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # conftest sets it for every test


@pytest.fixture(scope="module")
def loaded():
    """Every module loaded from its file, as a user would (evaluate copies the file and its sibling)."""
    return {name: load_metric(name, keep_in_memory=True) for name in METRIC_MODULES}


def test_every_module_loads_offline_from_its_file(no_network):
    assert set(METRIC_MODULES) == set(CLASSES)
    for name, cls in CLASSES.items():
        path = metric_path(name)
        assert path.is_file() and path.stem == name
        module = load_metric(name, keep_in_memory=True)
        assert module.name == name and type(module).__name__ == cls.__name__
        assert isinstance(module, evaluate.EvaluationModule) and type(module) is not cls  # a copy of the file
        assert module.citation and module.inputs_description
    with pytest.raises(InputError, match="unknown metric module 'squad'; expected one of accuracy"):
        metric_path("squad")


def imports(path: Path) -> list[tuple[int, str]]:
    """``(level, module)`` of every import statement of a file (level 1: ``from .x import``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_a_module_and_its_sibling_are_all_a_space_needs():
    for name in METRIC_MODULES:
        module = metric_path(name)
        relative = [target for level, target in imports(module) if level]
        assert all(level in (0, 1) for level, _ in imports(module)) and len(relative) == 1, name
        assert not [target for level, target in imports(module) if not level and target.startswith("xladjust")]
        sibling = module.with_name(f"{relative[0]}.py")
        assert sibling.is_file()
        # The sibling travels alone: no import from the package, relative or absolute.
        assert all(not level and not target.startswith("xladjust") for level, target in imports(sibling)), sibling


def test_a_copy_of_the_files_loads_where_xladjust_is_not(tmp_path):
    """What a metric Space does: the module and its sibling alone, loaded by evaluate in a fresh Python that cannot
    import xladjust."""
    for name in ("mlqa", "seqeval_strict"):
        (tmp_path / name).mkdir()
        for path in module_files(name):
            shutil.copy(path, tmp_path / name / path.name)
    code = textwrap.dedent(
        """
        import importlib.util, json, evaluate
        assert importlib.util.find_spec("xladjust") is None
        mlqa = evaluate.load("./mlqa/mlqa.py", keep_in_memory=True)
        answer = [{"id": "q", "prediction_text": "los reyes"}]
        refs = [{"id": "q", "answers": {"text": ["reyes"], "answer_start": [4]}}]
        qa = mlqa.compute(predictions=answer, references=refs, answer_language="es")
        ner = evaluate.load("./seqeval_strict/seqeval_strict.py", keep_in_memory=True)
        tags = ner.compute(predictions=[["B-PER", "O"]], references=[["B-PER", "I-PER"]])
        print(json.dumps([qa, tags["f1"], tags["accuracy"]]))
        """
    )
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == [{"exact_match": 100.0, "f1": 100.0}, 0.0, 0.5]


def test_accuracy_on_the_nli_fixtures(loaded):
    rng = random.Random(0)
    for language in ("en", *LANGUAGES):
        lines = (FIXTURES / "nli" / f"dev.{language}.jsonl").read_text(encoding="utf-8").splitlines()
        gold = [NLI_LABELS.index(json.loads(line)["label"]) for line in lines]
        predicted = [label if rng.random() < 0.6 else rng.randrange(3) for label in gold]
        expected = accuracy(predicted, gold)
        assert loaded["accuracy"].compute(predictions=predicted, references=gold) == {"accuracy": expected}
        assert Accuracy(keep_in_memory=True).compute(predictions=np.array(predicted), references=gold) == {
            "accuracy": expected
        }
    assert loaded["accuracy"].compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2]) == {"accuracy": 0.75}


def perturbed_tags(gold: list[list[str]], rng: random.Random) -> list[list[str]]:
    """Gold tags with a third of them replaced: wrong types, I- without B-, cut entities."""
    return [[tag if rng.random() < 0.67 else rng.choice(NER_LABELS) for tag in sentence] for sentence in gold]


def test_seqeval_strict_on_the_ner_fixtures(loaded):
    rng = random.Random(1)
    for language in ("en", *LANGUAGES):
        dataset, _ = read_ner_file(FIXTURES / "ner" / f"test.{language}.conll", language)
        gold = [[NER_LABELS[tag] for tag in tags] for tags in dataset["ner_tags"]]
        predicted = perturbed_tags(gold, rng)
        words = [(g, p) for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True)]
        expected = {**ner_scores(gold, predicted), "accuracy": sum(g == p for g, p in words) / len(words)}
        assert loaded["seqeval_strict"].compute(predictions=predicted, references=gold) == expected
        assert 0 < expected["f1"] < 1


def test_seqeval_strict_keeps_the_strict_mode_cases(loaded):
    # conlleval (seqeval's default mode) would read the leading I-PER as an entity and score f1 = 1.
    scores = loaded["seqeval_strict"].compute(
        predictions=[["I-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]]
    )
    assert scores["f1"] == 0.0 and scores["PER_support"] == 1 and scores["accuracy"] == pytest.approx(2 / 3)
    scores = loaded["seqeval_strict"].compute(
        predictions=[["B-MISC", "O"], []], references=[["B-MISC", "O"], []], entity_types=["MISC"]
    )
    assert scores["f1"] == 1.0 and "PER_f1" not in scores and scores["MISC_support"] == 1


def qa_inputs(examples, answers: dict[str, str]) -> dict:
    return {
        "predictions": [{"id": question, "prediction_text": text} for question, text in answers.items()],
        "references": [{"id": i, "answers": a} for i, a in zip(examples["id"], examples["answers"], strict=True)],
    }


def guesses(references: dict[str, list[str]], rng: random.Random) -> dict[str, str]:
    """Per question: a gold answer, one dressed in articles and punctuation, a part of it, or a wrong one."""
    answers = {}
    for question, truths in references.items():
        truth = rng.choice(truths)
        answers[question] = rng.choice(
            [truth, f"the {truth}.", f"«{truth}»", truth.split()[0], "nada que ver", f"la {truth}"]
        )
    return answers


@pytest.mark.parametrize("language", LANGUAGES)
def test_squad_v1_and_mlqa_on_the_qa_fixtures(loaded, language):
    examples = qa_data.read_qa_file(FIXTURES / "qa" / f"dev.{language}.json")
    references = references_from_examples(examples)
    answers = guesses(references, random.Random(language))
    inputs = qa_inputs(examples, answers)
    for name, rules in (("squad_v1", SQUAD_RULES), ("mlqa", MLQA_RULES)):
        expected = evaluate_predictions(answers, references, language, rules)
        scores = loaded[name].compute(**inputs, answer_language=language, per_example=True)
        assert scores == expected
        assert loaded[name].compute(**inputs, answer_language=language) == {
            "exact_match": expected["exact_match"],
            "f1": expected["f1"],
        }
        assert 0 < expected["f1"] < 100


SQUAD_CASES = [
    # (prediction, gold answers, exact match, F1): the official SQuAD v1.1 script's behaviours.
    ("The Eiffel Tower!", ["eiffel tower"], 100.0, 100.0),  # case, ASCII punctuation and articles go
    ("an apple", ["apple", "a pear"], 100.0, 100.0),  # the best of the gold answers
    ("the big red dog", ["a red dog"], 0.0, 80.0),  # tokens in common: P 2/3, R 1
    ("cat cat dog", ["cat"], 0.0, 50.0),  # repeated tokens count once each: P 1/3, R 1
    ("theater", ["ater"], 0.0, 0.0),  # articles only as whole words
    ("«Madrid»", ["Madrid"], 0.0, 0.0),  # non-ASCII punctuation stays glued to the word
    ("the", ["a"], 100.0, 0.0),  # both empty after normalisation: EM 1 but F1 0
    ("Hà Nội", ["Hà Nội"], 100.0, 100.0),
]

MLQA_CASES = [
    # (answer language, prediction, gold answers, exact match, F1): the official MLQA script's behaviours.
    ("es", "los tres reyes magos", ["reyes"], 0.0, 50.0),  # Spanish articles go: P 1/3, R 1
    ("es", "a Madrid", ["Madrid"], 0.0, 200 / 3),  # "a" is no Spanish article
    ("es", "¿Madrid?", ["Madrid"], 100.0, 100.0),  # Unicode punctuation goes
    ("de", "der Hund", ["Hund"], 100.0, 100.0),
    ("vi", "những con mèo", ["con mèo"], 100.0, 100.0),  # MLQA's Vietnamese word list
    ("ar", "الكتاب", ["كتاب"], 100.0, 100.0),  # the Arabic article goes, also inside words
    ("zh", "北京大学", ["北京"], 0.0, 200 / 3),  # one token per CJK character: P 2/4, R 1
    ("hi", "दिल्ली।", ["दिल्ली"], 100.0, 100.0),  # the danda is punctuation, vowel signs are not
    ("en", "the", ["a"], 100.0, 0.0),
]


def official_batch(cases) -> tuple[list[dict], list[dict]]:
    """Module inputs of ``(prediction, gold answers)`` pairs, question ids q0, q1, ..."""
    predictions = [{"id": f"q{i}", "prediction_text": prediction} for i, (prediction, _) in enumerate(cases)]
    references = [
        {"id": f"q{i}", "answers": {"text": truths, "answer_start": [0] * len(truths)}}
        for i, (_, truths) in enumerate(cases)
    ]
    return predictions, references


def test_squad_v1_reproduces_the_official_script_behaviours(loaded):
    predictions, references = official_batch([case[:2] for case in SQUAD_CASES])
    scores = loaded["squad_v1"].compute(predictions=predictions, references=references, per_example=True)
    assert scores["exact_match_per_example"] == [case[2] for case in SQUAD_CASES]
    assert scores["f1_per_example"] == pytest.approx([case[3] for case in SQUAD_CASES])
    assert scores["exact_match"] == pytest.approx(np.mean([case[2] for case in SQUAD_CASES]))
    # An unanswered question scores 0 and still counts; an answer to no question is ignored (as the script does).
    predictions = [{"id": "q0", "prediction_text": "eiffel tower"}, {"id": "elsewhere", "prediction_text": "x"}]
    scores = loaded["squad_v1"].compute(predictions=predictions, references=references[:2], per_example=True)
    assert scores["exact_match"] == 50.0 and scores["missing"] == 1 and scores["count"] == 2


def test_mlqa_reproduces_the_official_script_behaviours(loaded):
    for language, prediction, truths, exact_match, f1 in MLQA_CASES:
        predictions, references = official_batch([(prediction, truths)])
        scores = loaded["mlqa"].compute(predictions=predictions, references=references, answer_language=language)
        assert scores == pytest.approx({"exact_match": exact_match, "f1": f1}), (language, prediction)
    with pytest.raises(ValueError, match="mlqa needs answer_language"):
        loaded["mlqa"].compute(predictions=predictions, references=references)
    with pytest.raises(ValueError, match="id 'q0' is repeated"):
        loaded["mlqa"].compute(predictions=predictions * 2, references=references * 2, answer_language="en")


def test_squad_v1_and_mlqa_combine(loaded):
    predictions, references = official_batch([("a Madrid", ["Madrid"])])
    combined = evaluate.combine([loaded["squad_v1"], loaded["mlqa"]])
    scores = combined.compute(predictions=predictions, references=references, answer_language="es")
    assert scores == pytest.approx(
        {"squad_v1_exact_match": 100.0, "squad_v1_f1": 100.0, "mlqa_exact_match": 0.0, "mlqa_f1": 200 / 3}
    )


def test_retrieval_accuracy_equals_the_retrieval_function(loaded):
    generator = torch.Generator().manual_seed(0)
    foreign = torch.randn(40, 16, generator=generator)
    english = foreign + 1.5 * torch.randn(40, 16, generator=generator)  # noisy translations: some are missed
    expected = sentence_retrieval_accuracy(foreign, english, chunk_size=7)
    scores = loaded["retrieval_accuracy"].compute(
        predictions=foreign.numpy(), references=english.numpy(), return_retrieved=True, chunk_size=7
    )
    assert scores["accuracy"] == expected.acc_src_to_tgt and scores["reverse_accuracy"] == expected.acc_tgt_to_src
    assert scores["retrieved"] == expected.predicted_src_to_tgt.tolist()
    assert scores["reverse_retrieved"] == expected.predicted_tgt_to_src.tolist()
    assert 0 < scores["accuracy"] < 1 and scores["sentences"] == 40
    # Naively: a query is right when no other sentence of the other side is strictly closer to it.
    sims = torch.nn.functional.normalize(foreign, dim=1) @ torch.nn.functional.normalize(english, dim=1).T
    naive = np.mean([int(sims[i].argmax()) == i for i in range(40)])
    assert scores["accuracy"] == pytest.approx(naive)
    empty = loaded["retrieval_accuracy"].compute(predictions=[], references=[])
    assert empty["sentences"] == 0 and np.isnan(empty["accuracy"])


# ---------------------------------------------------------------------------------------------------------------
# The scripts compute through the modules


@pytest.fixture
def module_calls(monkeypatch):
    """The ``_compute`` calls of the in-package module classes, by module name."""
    calls: list[str] = []
    for name, cls in CLASSES.items():
        original = cls._compute

        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "_compute", spy)
    return calls


def test_classification_and_tagging_decoding_compute_through_the_modules(module_calls):
    examples = Dataset.from_dict({"id": ["a", "b", "c", "d"], "label": [0, 1, 2, 2]})
    eval_set = EvalSet("eval", "es", examples, "fixture")
    metrics, records = run_xnli.decode_labels(eval_set, np.array([0, 1, 1, 2]), NLI_LABELS)
    assert metrics == {"accuracy": 0.75} and records[2]["predicted"] == NLI_LABELS[1]
    metrics, records = run_belebele.decode_answers(eval_set, np.array([0, 1, 1, 2]))
    assert metrics == {"accuracy": 0.75} and records[2] == {"id": "c", "gold": 3, "predicted": 2}
    tags = [[1, 2, 0], [3, 0]]  # B-PER I-PER O, B-ORG O
    examples = Dataset.from_dict({"id": ["s1", "s2"], "ner_tags": tags})
    features = {"word_starts": [[1, 2, 3], [1, -1]]}  # the last word of s2 was cut off: predicted O
    predictions = np.array([[0, 1, 0, 0], [0, 3, 0, 0]])  # subword positions: I-PER lost, ORG found
    eval_set = EvalSet("predict", "es", examples, "fixture", features)
    metrics, _ = run_ner.decode_tags(eval_set, predictions, TAGGING_TASKS["ner"])
    assert metrics["precision"] == 0.5 and metrics["recall"] == 0.5 and metrics["accuracy"] == 0.8
    examples = Dataset.from_dict({"id": ["s1", "s2"], "pos_tags": [[0, 1, 2], [3, 4]]})
    eval_set = EvalSet("predict", "es", examples, "fixture", features)
    metrics, _ = run_ner.decode_tags(eval_set, np.array([[0, 0, 1, 0], [0, 3, 0, 0]]), TAGGING_TASKS["pos"])
    assert metrics == {"accuracy": 0.6}  # 3 of 5 words: s1's third word and s2's cut-off word are wrong
    assert module_calls == ["accuracy", "accuracy", "seqeval_strict", "word_accuracy"]


def test_word_accuracy_against_a_naive_count(loaded):
    rng = random.Random(3)
    gold = [[rng.choice("ABCD") for _ in range(rng.randint(1, 9))] for _ in range(30)]
    predicted = [[tag if rng.random() < 0.7 else rng.choice("ABCD") for tag in sentence] for sentence in gold]
    words = [(g, p) for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True)]
    naive = sum(g == p for g, p in words) / len(words)
    assert loaded["word_accuracy"].compute(predictions=predicted, references=gold) == {"accuracy": naive}
    assert 0 < naive < 1


@pytest.mark.parametrize(("name", "official"), [("mlqa.es.es", "mlqa"), ("xquad.es", "squad_v1")])
def test_qa_decoding_computes_through_the_modules(module_calls, monkeypatch, name, official):
    examples = qa_data.read_qa_file(FIXTURES / "qa" / "dev.es.json")
    references = references_from_examples(examples)
    answers = guesses(references, random.Random(2))
    monkeypatch.setattr(run_qa, "postprocess_predictions", lambda *args: dict(answers))
    eval_set = run_qa.QaEvalSet("eval", name, examples, "fixture", spec=qa_data.resolve_set_spec(name))
    metrics, records = run_qa.decode_qa(eval_set, (None, None), 20, 30)
    assert module_calls == [official, "squad_v1"]
    rules = MLQA_RULES if official == "mlqa" else SQUAD_RULES
    expected = evaluate_predictions(answers, references, "es", rules)
    squad = evaluate_predictions(answers, references, "es", SQUAD_RULES)
    assert metrics == {
        "exact_match": expected["exact_match"],
        "f1": expected["f1"],
        "squad_exact_match": squad["exact_match"],
        "squad_f1": squad["f1"],
    }
    assert [r["f1"] for r in records] == expected["f1_per_example"] and eval_set.answers == answers


def test_sentence_retrieval_computes_through_the_module(module_calls, tiny_bert, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    lines = (FIXTURES / "parallel" / "es-en.txt").read_text(encoding="utf-8").splitlines()[:6]
    foreign, english = zip(*(line.split(" ||| ") for line in lines), strict=True)
    bitext = make_bitext("es", list(foreign), list(english), "fixture")
    scores = retrieve_sentences(
        AutoModel.from_pretrained(tiny_bert),
        AutoTokenizer.from_pretrained(tiny_bert),
        bitext,
        label="base",
        corpus="pairs",
        layers=[-1],
        include_special_tokens=True,
        max_length=32,
        batch_size=4,
        device="cpu",
        predictions_dir=str(tmp_path),
    )
    assert module_calls == ["retrieval_accuracy"]
    lines = (tmp_path / "sentence_retrieval.es.layer-1.to_en.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert scores[-1]["to_en"] == np.mean([r["gold"] == r["predicted"] for r in records])
