"""How the task scripts read evaluation-file entries: ``LANG=PATH`` per language (ISO or FLORES-200 codes) and one
PATH for the other languages."""

from __future__ import annotations

import pytest

import run_xnli
from xladjust.errors import InputError
from xladjust.study.sources import _has_file
from xladjust.tasks.arguments import file_entry_language


def test_lang_entries_take_iso_and_flores_codes_and_a_plain_path_serves_the_others():
    assert [file_entry_language(e) for e in ("es=a.tsv", "zh-CN=b", "ast_Latn=c.tsv", "dev.{lang}.tsv", "x=")] == [
        "es",
        "zh-CN",
        "ast_Latn",
        None,
        "x",
    ]
    args = run_xnli.XnliDataArguments(
        task_name="sib200",
        eval_languages=["en", "ast_Latn", "es"],
        validation_files=["ast_Latn=ast.tsv", "{lang}.tsv"],
    )
    assert args.eval_file("eval", "ast_Latn") == ("ast.tsv", False)
    assert args.eval_file("eval", "en") == ("en.tsv", False) and args.eval_file("eval", "es") == ("es.tsv", False)
    # What a study prefetches follows the same reading: only English still comes from the Hub here.
    assert _has_file(["ast_Latn=ast.tsv"], "ast_Latn") and not _has_file(["ast_Latn=ast.tsv"], "en")
    with pytest.raises(InputError, match="'ast_Latn' is not one of --eval_languages"):
        run_xnli.XnliDataArguments(task_name="sib200", eval_languages=["en"], validation_files=["ast_Latn=ast.tsv"])
