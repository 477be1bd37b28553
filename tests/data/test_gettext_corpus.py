"""Gettext corpus builder: .mo reading, cleaning rules, exact outputs, manifest, split, errors, CLI."""

from __future__ import annotations

import gettext
import json
import logging
import re
import unicodedata
from pathlib import Path

import pytest

from tests.command_line import exit_status
from tests.mo_files import context, plural, write_mo
from xladjust.data import gettext_corpus
from xladjust.data.gettext_corpus import (
    DROP_REASONS,
    MoEntry,
    build_corpus,
    clean_entry,
    clean_message,
    is_heldout,
    main,
    read_mo,
    strip_accelerators,
)
from xladjust.errors import InputError

# Spanish: one entry (at least) per cleaning rule. Kept pairs are listed in ES_EXPECTED.
ES_EDITOR = [
    ("Open the selected file", "Abrir el archivo seleccionado"),
    ("_Save the current document", "_Guardar el documento actual"),
    ("Save _As Another File", "Guardar _como otro archivo"),
    ("&Close all open windows", "&Cerrar todas las ventanas"),
    ("Pr_int the Whole Page", "Imprimir toda la pá_gina"),
    ("Tom && Jerry are friends", "Tom && Jerry son amigos"),
    (context("menu", "Open the recent file"), "Abrir el archivo reciente"),
    (context("verb", "Close the window now"), "Cerrar la ventana ahora"),
    (context("noun", "Close the window now"), "Cierre de la ventana ahora"),
    ("View the selected picture", "Ver la imagen seleccionada"),
    ("Could not open file %s", "No se pudo abrir el archivo %s"),
    ("Copied %1$s of %2$s items", "Copiados %1$s de %2$s elementos"),
    ("Hello %(name)s, welcome back", "Hola %(name)s, bienvenido de nuevo"),
    ("Remove {count} old backups now", "Eliminar {count} copias antiguas ahora"),
    ("Set the $HOME directory path", "Definir la ruta del directorio $HOME"),
    ("Show <b>bold</b> text here", "Mostrar texto en <b>negrita</b> aquí"),
    ("Tom &amp; Jerry are here", "Tom &amp; Jerry están aquí"),
    ("First line of text\nSecond line of text", "Primera línea de texto\nSegunda línea de texto"),
    ("Name\tValue of the field", "Nombre\tValor del campo"),
    (
        plural("Remove the selected item", "Remove the selected items"),
        plural("Eliminar el elemento seleccionado", "Eliminar los elementos seleccionados"),
    ),
    ("Quit", "Salir"),
    ("Save file", "Guardar archivo"),
    ("Page 1 of 3", "Página 1 de 3"),
    ("GNU General Public License", "GNU General Public License"),
    ("Untranslated message here", ""),
    ("Unknown value for file_name option", "Valor desconocido para la opción file_name"),
    ("Pick one ||| or another", "Elige uno ||| u otro"),
]
ES_VIEWER = [  # in es_ES: a duplicate, a tie lost to ES_EDITOR, one more supporting vote
    ("Open the selected file", "Abrir el archivo seleccionado"),
    ("Save _As Another File", "Guardar _como otro fichero"),
    ("View the selected picture", "Ver la imagen seleccionada"),
]
ES_MX = [("View the selected picture", "Ver la foto seleccionada")]  # first lexicographically, but outvoted
AST = [("Open the selected file", "Abrir el ficheru seleicionáu")]  # "ast" is not "es"

ES_EXPECTED = {
    "Abrir el archivo seleccionado ||| Open the selected file",
    "Guardar el documento actual ||| Save the current document",
    "Guardar como otro archivo ||| Save As Another File",
    "Cerrar todas las ventanas ||| Close all open windows",
    "Imprimir toda la página ||| Print the Whole Page",
    "Tom & Jerry son amigos ||| Tom & Jerry are friends",
    "Abrir el archivo reciente ||| Open the recent file",
    "Cerrar la ventana ahora ||| Close the window now",
    "Ver la imagen seleccionada ||| View the selected picture",
}
ES_DROPPED = {
    "plural": 1,
    "empty_translation": 1,
    "newline_or_tab": 2,
    "markup": 2,
    "placeholder": 5,
    "separator": 1,
    "identifier": 1,
    "identical": 1,
    "too_short": 3,
    "duplicate": 2,
    "conflicting_translation": 3,
}

RU = [
    ("Open the selected file", "Открыть выбранный файл"),
    ("_Save the current document", "Со_хранить текущий документ"),
    ("Delete the selected files now.", "Удалить выбранные файлы сейчас."),
    (plural("%d file", "%d files"), plural("%d файл", "%d файла", "%d файлов")),
    ("Show the hidden files", "Show the hidden files"),
    ("Close", "Закрыть"),
]
RU_EXPECTED = {
    "Открыть выбранный файл ||| Open the selected file",
    "Сохранить текущий документ ||| Save the current document",
    "Удалить выбранные файлы сейчас . ||| Delete the selected files now .",
}
VI = [  # sacremoses does not know Vietnamese: whitespace tokens, punctuation stays attached
    ("Open the selected file", "Mở tập tin đã chọn"),
    ("Save in _folder:", "Lưu tr_ong thư mục:"),
    ("Could not read the file.", "Không thể đọc tập tin."),
    ("Value of {name} is wrong", "Giá trị của {name} bị sai"),
]
VI_EXPECTED = {
    "Mở tập tin đã chọn ||| Open the selected file",
    "Lưu trong thư mục: ||| Save in folder :",
    "Không thể đọc tập tin. ||| Could not read the file .",
}
HI = [
    ("_Insert Unicode Control Character", "यूनिकोड कंट्रोल कैरेक्टर प्रविष्ट करें (_I)"),
    ("Open the selected file", "चयनित फ़ाइल खोलें"),
    ("Print <i>now</i> please", "अभी <i>प्रिंट</i> करें"),
    ("Save file", "फ़ाइल सहेजें"),
]
HI_EXPECTED = {
    "यूनिकोड कंट्रोल कैरेक्टर प्रविष्ट करें ||| Insert Unicode Control Character",
    unicodedata.normalize("NFC", "चयनित फ़ाइल खोलें ||| Open the selected file"),
}
RU_PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)


@pytest.fixture
def locale_root(tmp_path: Path) -> Path:
    root = tmp_path / "locale"
    write_mo(root / "es/LC_MESSAGES/editor.mo", ES_EDITOR)
    write_mo(root / "es_ES/LC_MESSAGES/viewer.mo", ES_VIEWER)
    write_mo(root / "es_MX/LC_MESSAGES/viewer.mo", ES_MX)
    write_mo(root / "ast/LC_MESSAGES/editor.mo", AST)
    write_mo(root / "ru/LC_MESSAGES/editor.mo", RU, plural_forms=RU_PLURAL_FORMS)
    write_mo(root / "vi/LC_MESSAGES/editor.mo", VI, plural_forms="nplurals=1; plural=0;")
    write_mo(root / "hi/LC_MESSAGES/editor.mo", HI)
    return root


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def build(root: Path, output: Path, languages=("es", "ru", "vi", "hi"), **settings) -> dict:
    return build_corpus(languages, output, search_paths=[root], **settings)


# ---------------------------------------------------------------------------------------------------------------
# Reading


def test_read_mo_agrees_with_gettext(tmp_path: Path):
    path = write_mo(tmp_path / "es.mo", ES_EDITOR)
    entries = read_mo(path)
    assert len(entries) == len(ES_EDITOR)  # the header entry is not a message
    catalog = gettext.GNUTranslations(path.open("rb"))
    for entry in entries:
        if entry.is_plural:
            assert (entry.msgid, entry.msgid_plural) == ("Remove the selected item", "Remove the selected items")
            assert entry.msgstr_forms[1] == catalog.ngettext(entry.msgid, entry.msgid_plural, 2)
            assert entry.msgstr == catalog.ngettext(entry.msgid, entry.msgid_plural, 1)
        elif entry.context is not None:
            assert entry.msgstr == catalog.pgettext(entry.context, entry.msgid)
        elif entry.msgstr:  # gettext answers an empty translation with the msgid
            assert entry.msgstr == catalog.gettext(entry.msgid)
    contexts = {(entry.context, entry.msgid, entry.msgstr) for entry in entries if entry.context}
    assert contexts == {
        ("menu", "Open the recent file", "Abrir el archivo reciente"),
        ("verb", "Close the window now", "Cerrar la ventana ahora"),
        ("noun", "Close the window now", "Cierre de la ventana ahora"),
    }


def test_read_mo_big_endian_and_legacy_charset(tmp_path: Path):
    messages = [("Open the selected file", "Abrir el archivo seleccionado"), ("Page", "Página")]
    big = read_mo(write_mo(tmp_path / "big.mo", messages, byte_order=">"))
    latin = read_mo(write_mo(tmp_path / "latin.mo", messages, charset="ISO-8859-1"))
    assert [(e.msgid, e.msgstr) for e in big] == [(e.msgid, e.msgstr) for e in latin] == sorted(messages)


def test_read_mo_rejects_broken_files(tmp_path: Path):
    not_mo = tmp_path / "not.mo"
    not_mo.write_bytes(b"\x00" * 40)
    with pytest.raises(InputError, match="not a gettext .mo file: magic number") as error:
        read_mo(not_mo)
    assert str(error.value).startswith(f"{not_mo}: ")
    truncated = tmp_path / "truncated.mo"
    truncated.write_bytes(write_mo(tmp_path / "whole.mo", ES_EDITOR).read_bytes()[:200])
    with pytest.raises(InputError, match="past the end of the file"):
        read_mo(truncated)
    with pytest.raises(InputError, match="cannot read the catalog"):
        read_mo(tmp_path / "absent.mo")


# ---------------------------------------------------------------------------------------------------------------
# Cleaning rules


@pytest.mark.parametrize(
    ("raw", "other", "cleaned"),
    [
        ("_File", "_Archivo", "File"),
        ("Save _As", "Guardar _como", "Save As"),
        ("&File", "&Archivo", "File"),
        ("Sa&ve all", "&Guardar todo", "Save all"),
        ("Tom && Jerry", "Tom && Jerry", "Tom & Jerry"),
        ("Tom & Jerry", "Tom y Jerry", "Tom & Jerry"),
        ("फ़ाइल (_F)", "_File", "फ़ाइल"),
        ("Файл (&F)", "&File", "Файл"),
        ("Op_en", "_Abrir", "Open"),  # GTK label: mnemonic inside a word
        ("Ay_uda", "_Help", "Ayuda"),
        ("Op_en", "Abrir", "Op_en"),  # no mnemonic on the other side: an identifier
        ("use lo_read here", "usar le_er aquí", "use lo_read here"),  # lowercase start: technical message
        ("Set Col_umn.", "_Fijar columna.", "Set Col_umn."),  # a final full stop: not a label
        ("Call lo_read now", "Llamar a lo_read ahora", "Call lo_read now"),  # copied verbatim
        ("Set KP_Delete key", "Fijar kp_delete", "Set KP_Delete key"),  # copied, case aside
        ("AT&T network", "Red de AT&T", "AT&T network"),
        ("file_name and _Open", "_Abrir", "file_name and _Open"),  # two underscores: no mnemonic
    ],
)
def test_strip_accelerators(raw: str, other: str, cleaned: str):
    assert strip_accelerators(raw, other) == cleaned


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Open %s now", "placeholder"),
        ("Copied %1$s of %2$s", "placeholder"),
        ("Done %-5.2f percent", "placeholder"),
        ("Progress 100%% done", "placeholder"),
        ("Hello %(name)s there", "placeholder"),
        ("Copy %1 to %2 now", "placeholder"),
        ("%B: bad section here", "placeholder"),
        ("Remove {0} files now", "placeholder"),
        ("Remove {count} files now", "placeholder"),
        ("Remove {} files now", "placeholder"),
        ("Set $HOME variable now", "placeholder"),
        ("Set ${HOME} variable now", "placeholder"),
        ("Argument $1 is wrong", "placeholder"),
        ("Installed in @PREFIX@ now", "placeholder"),
        ("Show <b>bold</b> text", "markup"),
        ("A line<br/>break here", "markup"),
        ("Tom &amp; Jerry here", "markup"),
        ("Copyright &#169; holder here", "markup"),
        ("First line\nsecond line", "newline_or_tab"),
        ("Name\tvalue pair here", "newline_or_tab"),
        ("Form\x0cfeed in text", "newline_or_tab"),
        ("Line\u2028separator in text", "newline_or_tab"),
        ("one ||| two three", "separator"),
        ("Unknown file_name value", "identifier"),
        ("Press KP_Delete key", "identifier"),
        (" (_F) ", "empty_translation"),
    ],
)
def test_clean_message_drops(text: str, reason: str):
    assert clean_message(text) == (None, reason)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("  Open   the\u00a0file ", "Open the file"),  # whitespace, NBSP included, collapsed
        ("Done 100 % now", "Done 100 % now"),  # a percent sign that is no placeholder
        ("A ~ B | C", "A ~ B | C"),
        ("Use a _ prefix", "Use a _ prefix"),  # a lone underscore is no identifier
    ],
)
def test_clean_message_keeps(text: str, cleaned: str):
    assert clean_message(text) == (cleaned, None)


def test_clean_entry_rules():
    def entry(msgid: str, msgstr: str, **fields) -> MoEntry:
        return MoEntry(msgid, msgstr, **fields)

    kept = clean_entry(entry("Open the recent file", "Abrir el archivo reciente", context="menu"), "es")
    assert kept == ((["Abrir", "el", "archivo", "reciente"], ["Open", "the", "recent", "file"]), None)
    plural_entry = entry("One item left", "Queda un elemento", msgid_plural="Many items left", msgstr_forms=("a", "b"))
    assert clean_entry(plural_entry, "es") == (None, "plural")
    assert clean_entry(entry("Open the file", ""), "es") == (None, "empty_translation")
    assert clean_entry(entry("Open the file", "Open  the file"), "es") == (None, "identical")
    # Only tokens with a letter count: "Page 1 of 3" has two.
    assert clean_entry(entry("Page 1 of 3", "Página 1 de 3"), "es") == (None, "too_short")
    assert clean_entry(entry("Page 1 of 3", "Página 1 de 3"), "es", min_words=2)[1] is None
    # Both sides fail: the earlier rule in DROP_REASONS is reported.
    assert clean_entry(entry("Open <b>%s</b>", "Abrir\n%s"), "es") == (None, "newline_or_tab")
    assert clean_entry(entry("Open the file now", "Abrir el archivo %s"), "es") == (None, "placeholder")


# ---------------------------------------------------------------------------------------------------------------
# The corpus


def test_exact_outputs_and_manifest(locale_root: Path, tmp_path: Path):
    output = tmp_path / "corpus"
    manifest = build(locale_root, output, heldout_fraction=0.0)
    expected = {"es": ES_EXPECTED, "ru": RU_EXPECTED, "vi": VI_EXPECTED, "hi": HI_EXPECTED}
    for language, pairs in expected.items():
        assert set(lines(output / f"{language}-en.train.txt")) == pairs
        assert len(lines(output / f"{language}-en.train.txt")) == len(pairs)
        assert lines(output / f"{language}-en.heldout.txt") == []
    assert json.loads((output / "manifest.json").read_text(encoding="utf-8")) == manifest

    es = manifest["languages"]["es"]
    assert es["dropped"] == {reason: ES_DROPPED.get(reason, 0) for reason in DROP_REASONS}
    assert es["entries"] == len(ES_EDITOR) + len(ES_VIEWER) + len(ES_MX)
    assert es["entries"] == sum(es["dropped"].values()) + es["pairs"]
    assert (es["pairs"], es["train"], es["heldout"]) == (9, 9, 0)
    assert es["catalogs"] == [
        {"path": str(locale_root / "es/LC_MESSAGES/editor.mo"), "entries": len(ES_EDITOR), "pairs": 10},
        {"path": str(locale_root / "es_ES/LC_MESSAGES/viewer.mo"), "entries": 3, "pairs": 3},
        {"path": str(locale_root / "es_MX/LC_MESSAGES/viewer.mo"), "entries": 1, "pairs": 1},
    ]
    assert es["locale_dirs"] == [str(locale_root / name) for name in ("es", "es_ES", "es_MX")]
    assert es["unreadable_catalogs"] == []
    assert es["files"] == {"train": "es-en.train.txt", "heldout": "es-en.heldout.txt"}
    for language in ("ru", "vi", "hi"):
        counts = manifest["languages"][language]
        assert counts["entries"] == sum(counts["dropped"].values()) + counts["pairs"]
    assert manifest["languages"]["ru"]["dropped"]["plural"] == 1
    assert manifest["languages"]["hi"]["dropped"]["markup"] == 1
    assert manifest["settings"] == {
        "languages": ["es", "ru", "vi", "hi"],
        "search_paths": [str(locale_root)],
        "heldout_fraction": 0.0,
        "seed": 0,
        "min_words": 3,
        "split": manifest["settings"]["split"],
        "format": manifest["settings"]["format"],
    }


def test_pair_format(locale_root: Path, tmp_path: Path):
    build(locale_root, tmp_path / "corpus", heldout_fraction=0.5)
    for path in (tmp_path / "corpus").glob("*.txt"):
        for line in lines(path):
            target, english = line.split(" ||| ")
            for side in (target, english):
                assert side == " ".join(side.split()) and side
                assert "|||" not in side


def test_unreadable_catalog_is_skipped_and_recorded(locale_root: Path, tmp_path: Path):
    broken = locale_root / "es/LC_MESSAGES/broken.mo"
    broken.write_bytes(b"not a catalog at all, not at all")
    manifest = build(locale_root, tmp_path / "corpus", languages=["es"])
    assert manifest["languages"]["es"]["unreadable_catalogs"] == [
        {"path": str(broken), "error": "not a gettext .mo file: magic number 0x6e6f7420, expected 950412de"}
    ]
    assert manifest["languages"]["es"]["pairs"] == 9


def test_split_is_deterministic_and_stable_when_catalogs_are_added(locale_root: Path, tmp_path: Path):
    extra = [(f"Open the {word} window again", f"Abrir la ventana {word} otra vez") for word in ("red", "blue")]
    extra += [(f"Close every {noun} in the list", f"Cerrar cada {noun} de la lista") for noun in ("tab", "row")]
    first = build(locale_root, tmp_path / "first", languages=["es"], heldout_fraction=0.5)
    again = build(locale_root, tmp_path / "again", languages=["es"], heldout_fraction=0.5)
    assert first["languages"] == again["languages"]
    for name in ("es-en.train.txt", "es-en.heldout.txt"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    train, heldout = lines(tmp_path / "first/es-en.train.txt"), lines(tmp_path / "first/es-en.heldout.txt")
    assert train and heldout and set(train + heldout) == ES_EXPECTED
    assert all(is_heldout(line.split(" ||| ")[1], 0.5) for line in heldout)
    assert not any(is_heldout(line.split(" ||| ")[1], 0.5) for line in train)

    write_mo(locale_root / "es_AR/LC_MESSAGES/extra.mo", extra)
    more = build(locale_root, tmp_path / "more", languages=["es"], heldout_fraction=0.5)
    assert more["languages"]["es"]["pairs"] == 9 + len(extra)
    assert set(train) <= set(lines(tmp_path / "more/es-en.train.txt"))
    assert set(heldout) <= set(lines(tmp_path / "more/es-en.heldout.txt"))
    other_seed = build(locale_root, tmp_path / "seed", languages=["es"], heldout_fraction=0.5, seed=1)
    assert other_seed["languages"]["es"]["pairs"] == more["languages"]["es"]["pairs"]


def test_missing_catalogs_name_the_searched_paths(locale_root: Path, tmp_path: Path):
    elsewhere = tmp_path / "nowhere"
    output = tmp_path / "corpus"
    with pytest.raises(InputError) as error:
        build_corpus(["es", "de", "pt_BR"], output, search_paths=[locale_root, elsewhere])
    message = str(error.value)
    assert message.startswith("no gettext catalogs (.mo files) found for de, pt_BR; searched ")
    for searched in (
        locale_root / "de/LC_MESSAGES/*.mo",
        locale_root / "de_*/LC_MESSAGES/*.mo",
        elsewhere / "de/LC_MESSAGES/*.mo",
        elsewhere / "pt_BR_*/LC_MESSAGES/*.mo",
    ):
        assert str(searched) in message
    assert "es/LC_MESSAGES" not in message
    assert not output.exists()  # nothing written before every language is found


def test_modifier_dirs_only_by_name(locale_root: Path, tmp_path: Path):
    write_mo(locale_root / "es@test/LC_MESSAGES/other.mo", [("Open the other file", "Abrir el otro archivo")])
    manifest = build(locale_root, tmp_path / "corpus", languages=["es", "es@test"])
    assert manifest["languages"]["es"]["pairs"] == 9
    assert manifest["languages"]["es@test"]["locale_dirs"] == [str(locale_root / "es@test")]
    assert lines(tmp_path / "corpus/es@test-en.train.txt") == ["Abrir el otro archivo ||| Open the other file"]


def test_a_folder_of_other_files_is_refused_without_overwrite(locale_root: Path, tmp_path: Path):
    output = tmp_path / "corpus"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty; pass --overwrite_output_dir") as error:
        build(locale_root, output, languages=["ru"])
    assert str(error.value).startswith(f"{output}: ")
    assert [path.name for path in output.iterdir()] == ["notes.txt"]
    manifest = build(locale_root, output, languages=["ru"], overwrite=True)
    assert (output / "notes.txt").read_text() == "mine"  # not ours to remove: the folder had no run.json
    assert manifest["languages"]["ru"]["pairs"] == len(RU_EXPECTED)
    build(locale_root, tmp_path / "fresh", languages=["ru"])
    assert (output / "ru-en.train.txt").read_bytes() == (tmp_path / "fresh/ru-en.train.txt").read_bytes()


def test_rerun_with_the_same_settings_is_a_no_op_that_says_so(locale_root, tmp_path, capsys):
    output = tmp_path / "corpus"
    first = build(locale_root, output, languages=["ru"])
    stamps = {path.name: path.stat().st_mtime_ns for path in output.iterdir()}
    capsys.readouterr()
    assert build(locale_root, output, languages=["ru"]) == first
    assert f"{output}: already finished with the same settings" in capsys.readouterr().out
    assert {path.name: path.stat().st_mtime_ns for path in output.iterdir()} == stamps
    record = json.loads((output / "run.json").read_text())
    assert (record["script"], record["status"]) == ("python -m xladjust.data.gettext_corpus", "finished")
    assert record["settings"]["search_paths"][0]["path"] == str(locale_root)
    assert (record["settings"]["languages"], record["settings"]["min_words"]) == (["ru"], 3)


def test_other_settings_or_catalogs_are_refused_unless_overwrite(locale_root: Path, tmp_path: Path):
    output = tmp_path / "corpus"
    build(locale_root, output, languages=["ru"])
    before = (output / "ru-en.train.txt").read_bytes()
    refused = re.escape("other settings (--min_words: 3 → 2); pass --overwrite_output_dir")
    with pytest.raises(InputError, match=refused) as error:
        build(locale_root, output, languages=["ru"], min_words=2)
    assert str(error.value).startswith(f"{output}: ")
    write_mo(locale_root / "ru_RU/LC_MESSAGES/more.mo", [("Close the selected file", "Закрыть выбранный файл")])
    with pytest.raises(InputError, match=re.escape(f"--search_paths: [{locale_root} (content ")):
        build(locale_root, output, languages=["ru"])  # the catalogs changed
    assert (output / "ru-en.train.txt").read_bytes() == before
    manifest = build(locale_root, output, languages=["ru"], overwrite=True)
    assert manifest["languages"]["ru"]["pairs"] == len(RU_EXPECTED) + 1
    assert json.loads((output / "run.json").read_text())["status"] == "finished"


def test_an_interrupted_build_is_built_again(locale_root, tmp_path, monkeypatch, caplog):
    output = tmp_path / "corpus"

    def killed(*args, **kwargs):
        raise RuntimeError("killed before the manifest was written")

    monkeypatch.setattr(gettext_corpus, "write_json", killed)
    with pytest.raises(RuntimeError, match="killed"):
        build(locale_root, output, languages=["ru"])
    assert json.loads((output / "run.json").read_text())["status"] == "running"
    assert not (output / "manifest.json").exists()
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING):
        manifest = build(locale_root, output, languages=["ru"])
    assert "did not finish; running it again" in caplog.text
    assert json.loads((output / "manifest.json").read_text()) == manifest
    assert json.loads((output / "run.json").read_text())["status"] == "finished"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"heldout_fraction": 1.5}, "held-out fraction must be between 0 and 1"),
        ({"min_words": 0}, "at least 1"),
        ({"languages": []}, "no languages given"),
        ({"languages": ["es/../ru"]}, "is not a locale name"),
    ],
)
def test_invalid_settings(locale_root: Path, tmp_path: Path, settings: dict, message: str):
    settings = {"languages": ["es"], **settings}
    with pytest.raises(InputError, match=message):
        build(locale_root, tmp_path / "corpus", **settings)


def test_cli(locale_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    output = tmp_path / "corpus"
    argv = ["--languages", "es", "ru", "--output_dir", str(output), "--search_paths", str(locale_root)]
    assert exit_status(main, [*argv, "--heldout_fraction", "0"]) == 0
    assert set(lines(output / "es-en.train.txt")) == ES_EXPECTED
    assert json.loads((output / "manifest.json").read_text())["settings"]["languages"] == ["es", "ru"]

    assert exit_status(main, argv) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {output}: the output folder holds a run with other settings")
    assert "Traceback" not in error
    assert "(--heldout_fraction: 0.0 → 0.1)" in error and len(error.splitlines()) == 1
    assert exit_status(main, [*argv[:3], "de", *argv[3:], "--overwrite"]) == 2
    assert "error: no gettext catalogs (.mo files) found for de; searched " in capsys.readouterr().err
    assert exit_status(main, [*argv, "--overwrite_output_dir"]) == 0
    assert json.loads((output / "manifest.json").read_text())["settings"]["heldout_fraction"] == 0.1


def test_real_system_catalogs(tmp_path: Path):
    root = Path("/usr/share/locale")
    if not (root / "es/LC_MESSAGES").is_dir():
        pytest.skip("no Spanish catalogs in /usr/share/locale")
    manifest = build_corpus(["es"], tmp_path / "corpus")["languages"]["es"]
    assert manifest["pairs"] > 100
    assert manifest["train"] + manifest["heldout"] == manifest["pairs"]
    assert manifest["entries"] == sum(manifest["dropped"].values()) + manifest["pairs"]
    train = lines(tmp_path / "corpus/es-en.train.txt")
    heldout = lines(tmp_path / "corpus/es-en.heldout.txt")
    assert (len(train), len(heldout)) == (manifest["train"], manifest["heldout"])
    assert 0.05 < len(heldout) / manifest["pairs"] < 0.15
    english_sides = set()
    for line in train + heldout:
        target, english = line.split(" ||| ")
        assert target.split() and english.split() and "|||" not in target + english
        english_sides.add(english)
    assert len(english_sides) == manifest["pairs"]  # one translation per English message
