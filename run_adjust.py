#!/usr/bin/env python
"""Cross-lingual adjustment of a multilingual encoder (Cao et al. 2020; Efimov et al. 2023).

Fine-tunes the encoder on word-aligned parallel sentences so that the contextual vectors of a target-language word
and of its English translation come closer, while a regulariser keeps English vectors near those of the frozen
original model. The adjusted encoder is saved with its tokenizer, ready for run_xnli.py, run_ner.py, run_qa.py
and run_analysis.py.

    python run_adjust.py --model_name_or_path google-bert/bert-base-multilingual-cased --languages es ru \
        --parallel_files es-en.txt ru-en.txt --alignment_files es-en.align ru-en.align \
        --output_dir out/adjusted --do_train --do_eval --validation_pairs 500
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field

from transformers import AutoModel, AutoTokenizer, TrainingArguments, set_seed

from xladjust.adjust.collator import AlignedPairCollator
from xladjust.adjust.features import build_alignment_datasets
from xladjust.adjust.objective import AlignmentObjective, freeze_pooler
from xladjust.adjust.settings import ObjectiveSettings
from xladjust.arguments import ModelArguments
from xladjust.cli import run_main
from xladjust.data.embedding_alignment import build_aligner
from xladjust.data.parallel import load_parallel_corpora, write_held_out
from xladjust.data.parallel_arguments import ParallelDataArguments
from xladjust.io import write_json
from xladjust.model_card import ModelCardInfo
from xladjust.run_folder import start_training_run
from xladjust.script_utils import parse_arguments, setup_logging
from xladjust.trainer import AlignmentTrainer

logger = logging.getLogger(__name__)


@dataclass
class AdjustTrainingArguments(TrainingArguments):
    """TrainingArguments with the paper's defaults: Adam(0.9, 0.98, 1e-9), lr 5e-5, 10% warm-up then constant."""

    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the parallel pairs."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Sentence pairs per device and step."})
    adam_beta2: float = field(default=0.98, metadata={"help": "Adam beta2."})
    adam_epsilon: float = field(default=1e-9, metadata={"help": "Adam epsilon."})
    weight_decay: float = field(default=0.0, metadata={"help": "Weight decay (none in the paper)."})
    lr_scheduler_type: str = field(default="constant_with_warmup", metadata={"help": "Learning-rate schedule."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up steps, or a fraction of all steps if < 1."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Gradient clipping norm (0: none, as the paper)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False: the batch is custom."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Write into a non-empty --output_dir (transformers v5 dropped this flag)."}
    )


ARGUMENTS = (ModelArguments, ParallelDataArguments, ObjectiveSettings, AdjustTrainingArguments)
"""What the script parses (from the command line or a JSON file), in order."""


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, objective_settings, training_args = parse_arguments(ARGUMENTS, argv)
    training_args.remove_unused_columns = False
    setup_logging(training_args)
    run = start_training_run(
        "run_adjust.py", (model_args, data_args, objective_settings, training_args), actions=("do_train", "do_eval")
    )
    if run.finished:
        return run.results
    checkpoint = run.checkpoint
    set_seed(training_args.seed)

    # 1. Parallel data: read, split off held-out pairs, keep the best-scored pairs (--filter_model), align (eflomal,
    #    SimAlign on the original encoder, or a dictionary) where no alignment file is given, filter the links.
    with training_args.main_process_first(desc="reading and aligning parallel data"):
        corpora = load_parallel_corpora(
            data_args,
            training_args.seed,
            alignment_cache_dir=os.path.join(training_args.output_dir, "alignments"),
            aligner=build_aligner(data_args, model_args, training_args.device),
            device=training_args.device,
            model_kwargs=model_args.download_options(),
        )

    # 2. Tokenise once: token ids, word→subword maps and links in subword-pooled word numbers.
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.tokenizer_name or model_args.model_name_or_path,
        cache_dir=model_args.cache_dir,
        revision=model_args.model_revision,
        token=model_args.token,
    )
    with training_args.main_process_first(desc="tokenizing"):
        train_dataset, held_out_dataset = build_alignment_datasets(
            corpora,
            tokenizer,
            max_seq_length=data_args.max_seq_length,
            include_cls_sep=objective_settings.include_cls_sep,
            num_proc=data_args.preprocessing_num_workers,
        )
    for corpus in corpora:
        logger.info("%s: training %s", corpus.language, corpus.stats.as_dict())
        if corpus.held_out:
            logger.info("%s: held-out %s", corpus.language, corpus.held_out_stats.as_dict())

    # 3. The encoder being adjusted, and the loss with its frozen copy of the original (also kept for the held-out
    #    metrics, whatever the training loss needs).
    model = AutoModel.from_pretrained(
        model_args.model_name_or_path,
        cache_dir=model_args.cache_dir,
        revision=model_args.model_revision,
        token=model_args.token,
    )
    freeze_pooler(model)
    objective = AlignmentObjective(
        model, objective_settings, keep_reference=training_args.do_eval and held_out_dataset is not None
    )
    objective.frozen.freeze()  # --freeze: out of the optimizer and of DDP before either is built

    adjustment_config = {
        "base_model": model_args.model_name_or_path,
        "languages": data_args.languages,
        "data": {c.language: c.report() for c in corpora},
        "parallel_data": asdict(data_args),
        "objective": objective_settings.as_dict(),
        **({"frozen": objective.frozen.as_dict()} if objective.frozen else {}),
    }
    trainer = AlignmentTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset if training_args.do_train else None,
        eval_dataset=held_out_dataset,
        data_collator=AlignedPairCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        objective=objective,
        language_names=data_args.languages,
        model_card=ModelCardInfo(
            title=f"{os.path.basename(os.path.abspath(training_args.output_dir))}: cross-lingually adjusted encoder",
            summary=(
                f"`{model_args.model_name_or_path}` adjusted so that contextual vectors of aligned words in "
                f"{', '.join(data_args.languages)} and English come closer (Cao et al. 2020; Efimov et al. 2023)."
                + (f" Frozen during the adjustment: {objective.frozen.describe()}." if objective.frozen else "")
            ),
            base_model=model_args.model_name_or_path,
            languages=["en", *data_args.languages],
            data=[c.describe() for c in corpora],
            tags=["cross-lingual-adjustment", "multilingual"],
            settings={
                k: adjustment_config[k] for k in ("parallel_data", "objective", "frozen") if k in adjustment_config
            },
            datasets=[data_args.parallel_dataset_name] if data_args.parallel_dataset_name else [],
        ),
    )
    if trainer.is_world_process_zero():
        os.makedirs(training_args.output_dir, exist_ok=True)
        write_json(os.path.join(training_args.output_dir, "adjustment_config.json"), adjustment_config)
        write_held_out(corpora, os.path.join(training_args.output_dir, "heldout"))

    # 4. Held-out loss of the original encoder, training, held-out loss after.
    # The pair filter's and the dictionary's counts are saved with the first results (never before the work: a
    # killed run leaves no results file).
    data = {"data": {key: value for c in corpora for key, value in c.metrics().items()}}
    results: dict[str, float] = {}
    if training_args.do_eval and held_out_dataset is not None:
        results.update(trainer.evaluate_original(metric_key_prefix="eval_before"))
    if training_args.do_train:
        results.update(trainer.train_and_save(checkpoint, len(train_dataset), "train_pairs", records=data))
    if training_args.do_eval and held_out_dataset is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", {**metrics, **{k: v for k, v in results.items() if k.startswith("eval_before")}})
        results.update(metrics)
    if not training_args.do_train and data["data"]:
        trainer.save_metrics("data", data["data"])
        results.update(data["data"])

    # 5. Model card, and the Hub.
    trainer.publish(data_args.languages)
    run.finish()
    return results


if __name__ == "__main__":
    run_main(main)
