"""Tests for typhoon.locale: closest-locale lookup, CSV and gettext catalogs, formatting."""

from __future__ import annotations

import codecs
import datetime
import logging
import shutil
import struct
import subprocess
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from typhoon import errors
from typhoon import locale as tlocale
from typhoon.locale import CSVLocale, GettextLocale, Locale

UTC = datetime.UTC
NOW = datetime.datetime(2024, 3, 15, 12, 0, 0, tzinfo=UTC)  # a Friday


@pytest.fixture(autouse=True)
def clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Restore the module-wide locale state after each test."""
    for name in ("_default_locale", "_translations", "_supported_locales", "_use_gettext"):
        monkeypatch.setattr(tlocale, name, getattr(tlocale, name))
    saved = dict(Locale._cache)
    Locale._cache.clear()
    yield
    Locale._cache.clear()
    Locale._cache.update(saved)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime.datetime:
    """Make ``datetime.datetime.now`` inside typhoon.locale return NOW."""

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Frozen:  # type: ignore[override]
            moment = NOW if tz is None else NOW.astimezone(tz)
            return cls.fromtimestamp(moment.timestamp(), moment.tzinfo)

    shim = types.SimpleNamespace(
        datetime=Frozen, timezone=datetime.timezone, timedelta=datetime.timedelta, UTC=UTC
    )
    monkeypatch.setattr(tlocale, "datetime", shim)
    return NOW


def write_csv(directory: Path, code: str, rows: list[list[str]], encoding: str = "utf-8") -> None:
    lines = "\n".join(",".join(f'"{cell}"' for cell in row) for row in rows) + "\n"
    (directory / f"{code}.csv").write_bytes(lines.encode(encoding))


# --- a minimal .mo compiler (GNU gettext binary catalog format) --------------------------------

PLURAL_HEADER_2 = "nplurals=2; plural=(n != 1);"
# Polish: one, few (2-4 but not 12-14), many.
PLURAL_HEADER_PL = (
    "nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)


def compile_mo(entries: dict[str, str | list[str]], plural_forms: str, path: Path) -> None:
    """Write a .mo file.

    ``entries`` maps a msgid to its translation; a plural entry has the key
    ``"singular\\0plural"`` and a list of forms; a context is ``"ctx\\x04msgid"``.
    """
    header = f"Content-Type: text/plain; charset=UTF-8\nPlural-Forms: {plural_forms}\n"
    catalog: dict[bytes, bytes] = {b"": header.encode()}
    for msgid, msgstr in entries.items():
        value = "\0".join(msgstr) if isinstance(msgstr, list) else msgstr
        catalog[msgid.encode()] = value.encode()
    keys = sorted(catalog)
    count = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + count * 8
    data_at = translations_at + count * 8
    blob = b""
    original_table = b""
    translation_table = b""
    for key in keys:
        original_table += struct.pack("<II", len(key), data_at + len(blob))
        blob += key + b"\0"
    for key in keys:
        value = catalog[key]
        translation_table += struct.pack("<II", len(value), data_at + len(blob))
        blob += value + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + original_table + translation_table + blob)


@pytest.fixture
def gettext_dir(tmp_path: Path) -> Path:
    compile_mo(
        {
            "Hello": "Bonjour",
            "January": "janvier",
            "%(month_name)s %(day)s, %(year)s at %(time)s": "%(day)s %(month_name)s %(year)s à %(time)s",
            "1 file\0%(num)d files": ["1 fichier", "%(num)d fichiers"],
            "menu\x04Open": "Ouvrir",
            "door\x04Open": "Ouvert",
            "Close": "Fermer",
            "stock\x04one item\0%(num)d items": ["un article", "%(num)d articles"],
            "one apple\0%(num)d apples": ["une pomme", "%(num)d pommes"],
        },
        PLURAL_HEADER_2,
        tmp_path / "fr_FR" / "LC_MESSAGES" / "app.mo",
    )
    compile_mo(
        {"1 file\0%(num)d files": ["1 plik", "%(num)d pliki", "%(num)d plików"]},
        PLURAL_HEADER_PL,
        tmp_path / "pl_PL" / "LC_MESSAGES" / "app.mo",
    )
    (tmp_path / "de_DE" / "LC_MESSAGES").mkdir(parents=True)  # no catalog: skipped
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "README").write_text("not a locale")
    return tmp_path


# --- lookup -------------------------------------------------------------------------------------


def test_default_locale_without_translations() -> None:
    locale = tlocale.get()
    assert isinstance(locale, CSVLocale)
    assert locale.code == "en_US"
    assert locale.name == "English (US)"
    assert locale.translate("Hello") == "Hello"
    assert locale.translate("1 file", "%(n)d files", 2) == "%(n)d files"
    assert tlocale.get_supported_locales() == frozenset({"en_US"})


def test_get_closest_matching(tmp_path: Path) -> None:
    for code in ("fr_FR", "de", "pt_BR"):
        write_csv(tmp_path, code, [["Hello", "x"]])
    tlocale.load_translations(str(tmp_path))
    assert tlocale.get("fr-fr").code == "fr_FR"
    assert tlocale.get("FR_fr").code == "fr_FR"
    assert tlocale.get("de-AT").code == "de"
    assert tlocale.get("de").code == "de"
    assert tlocale.get("fr").code == "en_US"  # no bare "fr" and no "fr_FR" guess
    assert tlocale.get("", "xx_YY_ZZ", "es", "pt-br").code == "pt_BR"
    assert tlocale.get("es", "it").code == "en_US"
    assert tlocale.get("de", "fr_FR").code == "de"


def test_locale_get_is_cached_and_validates() -> None:
    assert Locale.get("en_US") is Locale.get("en_US")
    with pytest.raises(errors.ConfigurationError, match="unsupported locale 'xx_XX'"):
        Locale.get("xx_XX")


def test_set_default_locale(tmp_path: Path) -> None:
    write_csv(tmp_path, "es_ES", [["Hello", "Hola"]])
    tlocale.load_translations(str(tmp_path))
    tlocale.set_default_locale("es_ES")
    assert tlocale.get("ja").code == "es_ES"
    assert tlocale.get().translate("Hello") == "Hola"
    tlocale.set_default_locale("en_GB")
    assert tlocale.get_supported_locales() == frozenset({"es_ES", "en_GB"})
    assert tlocale.get("ja").code == "en_GB"


def test_rtl_and_names() -> None:
    tlocale.set_default_locale("ar_AR")
    ar = Locale.get("ar_AR")
    assert ar.rtl
    assert ar.name == tlocale.LOCALE_NAMES["ar_AR"]["name"]
    for code in ("fa_IR", "he_IL"):
        tlocale.set_default_locale(code)
        assert Locale.get(code).rtl
    tlocale.set_default_locale("xx")
    assert not Locale.get("xx").rtl
    assert Locale.get("xx").name == "Unknown"


def test_locale_names_table() -> None:
    assert len(tlocale.LOCALE_NAMES) >= 60
    for code, names in tlocale.LOCALE_NAMES.items():
        assert "_" in code
        assert names["name"]
        assert names["name_en"]
    assert tlocale.LOCALE_NAMES["de_DE"] == {"name_en": "German", "name": "Deutsch"}


# --- CSV translations ---------------------------------------------------------------------------


def test_csv_translations_with_plurals(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "es_LA",
        [
            ["Hello", "Hola"],
            ["%(n)d apple", "%(n)d manzana", "singular"],
            ["%(n)d apples", "%(n)d manzanas", "plural"],
            ["Open", "Abrir", ""],
            [],
            ["only one column"],
        ],
    )
    tlocale.load_translations(str(tmp_path))
    assert tlocale.get_supported_locales() == frozenset({"es_LA", "en_US"})
    es = tlocale.get("es_LA")
    assert isinstance(es, CSVLocale)
    assert es.translate("Hello") == "Hola"
    assert es.translate("Open") == "Abrir"
    assert es.translate("Missing") == "Missing"
    assert es.translate("%(n)d apple", "%(n)d apples", 1) == "%(n)d manzana"
    assert es.translate("%(n)d apple", "%(n)d apples", 3) == "%(n)d manzanas"
    assert es.translate("%(n)d apple", "%(n)d apples", 0) == "%(n)d manzanas"
    assert es.translate("x", "xs", 2) == "xs"
    with pytest.raises(ValueError, match="count is required"):
        es.translate("a", "b")


def test_csv_bad_rows_and_names_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path, "fr_FR", [["Yes", "Oui"], ["No", "Non", "dual"]])
    write_csv(tmp_path, "Bad-Name", [["Yes", "?"]])
    (tmp_path / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.ERROR, logger="typhoon.general"):
        tlocale.load_translations(str(tmp_path))
    messages = [r.getMessage() for r in caplog.records]
    assert any("Unrecognized plural indicator 'dual'" in m and "line 2" in m for m in messages)
    assert any("Unrecognized locale 'Bad-Name'" in m for m in messages)
    assert tlocale.get_supported_locales() == frozenset({"fr_FR", "en_US"})
    assert tlocale.get("fr_FR").translate("No") == "No"
    assert tlocale.get("fr_FR").translate("Yes") == "Oui"


def test_csv_encodings(tmp_path: Path) -> None:
    (tmp_path / "ru_RU.csv").write_bytes(codecs.BOM_UTF16_LE + '"Yes","Да"\n'.encode("utf-16-le"))
    (tmp_path / "de_DE.csv").write_bytes(codecs.BOM_UTF8 + '"Street","Straße"\n'.encode())
    tlocale.load_translations(str(tmp_path))
    assert tlocale.get("ru-RU").translate("Yes") == "Да"
    assert tlocale.get("de_DE").translate("Street") == "Straße"

    other = tmp_path / "latin"
    other.mkdir()
    (other / "fr_FR.csv").write_bytes('"Summer","Été"\n'.encode("latin-1"))
    tlocale.load_translations(str(other), encoding="latin-1")
    assert tlocale.get("fr_FR").translate("Summer") == "Été"
    assert tlocale.get_supported_locales() == frozenset({"fr_FR", "en_US"})


def test_reloading_translations_refreshes_cached_locales(tmp_path: Path) -> None:
    write_csv(tmp_path, "it_IT", [["Hello", "Ciao"]])
    tlocale.load_translations(str(tmp_path))
    assert tlocale.get("it").translate("Hello") == "Hello"  # "it" alone is not supported
    assert tlocale.get("it_IT").translate("Hello") == "Ciao"
    write_csv(tmp_path, "it_IT", [["Hello", "Salve"]])
    tlocale.load_translations(str(tmp_path))
    assert tlocale.get("it_IT").translate("Hello") == "Salve"


def test_csv_pgettext_ignores_context_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path, "nl_NL", [["Open", "Open (nl)"]])
    tlocale.load_translations(str(tmp_path))
    nl = tlocale.get("nl_NL")
    with caplog.at_level(logging.WARNING, logger="typhoon.general"):
        assert nl.pgettext("menu", "Open") == "Open (nl)"
        assert nl.pgettext("door", "Open") == "Open (nl)"
        assert nl.pgettext("c", "x", "xs", 2) == "xs"
    assert sum("pgettext is not supported" in r.getMessage() for r in caplog.records) == 1


# --- gettext translations -----------------------------------------------------------------------


def test_gettext_translations(gettext_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="typhoon.general"):
        tlocale.load_gettext_translations(str(gettext_dir), "app")
    assert tlocale.get_supported_locales() == frozenset({"fr_FR", "pl_PL", "en_US"})
    assert any("Cannot load translation for 'de_DE'" in r.getMessage() for r in caplog.records)
    fr = tlocale.get("fr-FR")
    assert isinstance(fr, GettextLocale)
    assert fr.translate("Hello") == "Bonjour"
    assert fr.translate("Unknown") == "Unknown"
    assert fr.translate("1 file", "%(num)d files", 1) == "1 fichier"
    assert fr.translate("1 file", "%(num)d files", 5) % {"num": 5} == "5 fichiers"
    assert fr.translate("1 file", "%(num)d files", 0) % {"num": 0} == "0 fichiers"
    with pytest.raises(ValueError, match="count is required"):
        fr.translate("1 file", "%(num)d files")


def test_gettext_catalog_plural_rule(gettext_dir: Path) -> None:
    tlocale.load_gettext_translations(str(gettext_dir), "app")
    pl = tlocale.get("pl_PL")
    forms = {n: pl.translate("1 file", "%(num)d files", n) % {"num": n} for n in (1, 2, 5, 22, 25)}
    assert forms == {1: "1 plik", 2: "2 pliki", 5: "5 plików", 22: "22 pliki", 25: "25 plików"}


def test_gettext_pgettext(gettext_dir: Path) -> None:
    tlocale.load_gettext_translations(str(gettext_dir), "app")
    fr = tlocale.get("fr_FR")
    assert fr.pgettext("menu", "Open") == "Ouvrir"
    assert fr.pgettext("door", "Open") == "Ouvert"
    # No translation in this context: a singular message comes back as given...
    assert fr.pgettext("other", "Open") == "Open"
    assert fr.pgettext("menu", "Close") == "Close"
    # ...and a plural one falls back to its translation without context.
    assert fr.pgettext("stock", "one item", "%(num)d items", 1) == "un article"
    assert fr.pgettext("stock", "one item", "%(num)d items", 4) == "%(num)d articles"
    assert fr.pgettext("fruit", "one apple", "%(num)d apples", 4) == "%(num)d pommes"
    assert fr.pgettext("x", "a", "b", 3) == "b"
    with pytest.raises(ValueError, match="count is required"):
        fr.pgettext("stock", "one item", "%(num)d items")


def test_gettext_translates_dates(gettext_dir: Path, frozen_now: datetime.datetime) -> None:
    tlocale.load_gettext_translations(str(gettext_dir), "app")
    fr = tlocale.get("fr_FR")
    old = datetime.datetime(2022, 1, 5, 14, 30, tzinfo=UTC)
    assert fr.format_date(old) == "5 janvier 2022 à 14:30"


def test_gettext_untranslated_locale_after_csv(gettext_dir: Path, tmp_path: Path) -> None:
    tlocale.load_gettext_translations(str(gettext_dir), "app")
    tlocale.set_default_locale("ja_JP")
    assert isinstance(tlocale.get("ja"), CSVLocale)
    assert tlocale.get("ja").translate("Hello") == "Hello"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext msgfmt not installed")
def test_catalog_compiled_by_msgfmt(tmp_path: Path) -> None:
    po = tmp_path / "ru.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n'
        '"Content-Type: text/plain; charset=UTF-8\\n"\n'
        '"Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : '
        'n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\\n"\n\n'
        'msgid "Hello"\nmsgstr "Привет"\n\n'
        'msgctxt "verb"\nmsgid "Save"\nmsgstr "Сохранить"\n\n'
        'msgid "%(num)d day"\nmsgid_plural "%(num)d days"\n'
        'msgstr[0] "%(num)d день"\nmsgstr[1] "%(num)d дня"\nmsgstr[2] "%(num)d дней"\n',
        encoding="utf-8",
    )
    mo = tmp_path / "locales" / "ru_RU" / "LC_MESSAGES" / "site.mo"
    mo.parent.mkdir(parents=True)
    subprocess.run(["msgfmt", "-o", str(mo), str(po)], check=True, timeout=30)
    tlocale.load_gettext_translations(str(tmp_path / "locales"), "site")
    ru = tlocale.get("ru", "ru-ru")
    assert ru.translate("Hello") == "Привет"
    assert ru.pgettext("verb", "Save") == "Сохранить"
    days = [ru.translate("%(num)d day", "%(num)d days", n) % {"num": n} for n in (1, 3, 5, 21)]
    assert days == ["1 день", "3 дня", "5 дней", "21 день"]


# --- formatting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (datetime.timedelta(0), "0 seconds ago"),
        (datetime.timedelta(seconds=1), "1 second ago"),
        (datetime.timedelta(seconds=49), "49 seconds ago"),
        (datetime.timedelta(seconds=60), "1 minute ago"),
        (datetime.timedelta(seconds=150), "2 minutes ago"),
        (datetime.timedelta(minutes=49), "49 minutes ago"),
        (datetime.timedelta(minutes=50), "1 hour ago"),
        (datetime.timedelta(hours=5), "5 hours ago"),
        (datetime.timedelta(hours=23, minutes=59), "24 hours ago"),
        (datetime.timedelta(days=1, hours=2), "yesterday at 10:00 am"),
        (datetime.timedelta(days=3), "Tuesday at 12:00 pm"),
        (datetime.timedelta(days=30), "February 14 at 12:00 pm"),
        (datetime.timedelta(days=400), "February 9, 2023 at 12:00 pm"),
        (-datetime.timedelta(seconds=30), "0 seconds ago"),
        (-datetime.timedelta(hours=2), "March 15, 2024 at 2:00 pm"),
    ],
)
def test_format_date_relative(
    frozen_now: datetime.datetime, delta: datetime.timedelta, expected: str
) -> None:
    assert tlocale.get("en_US").format_date(frozen_now - delta) == expected


@pytest.mark.parametrize(
    ("delta", "kwargs", "expected"),
    [
        (datetime.timedelta(hours=1), {"relative": False}, "11:00 am"),
        (datetime.timedelta(days=1, hours=2), {"shorter": True}, "yesterday"),
        (datetime.timedelta(days=1, hours=2), {"relative": False}, "Thursday at 10:00 am"),
        (datetime.timedelta(days=3), {"shorter": True}, "Tuesday"),
        (datetime.timedelta(days=30), {"shorter": True}, "February 14"),
        (datetime.timedelta(days=400), {"shorter": True}, "February 9, 2023"),
        (datetime.timedelta(hours=1), {"full_format": True}, "March 15, 2024 at 11:00 am"),
        (datetime.timedelta(hours=1), {"full_format": True, "shorter": True}, "March 15, 2024"),
        (-datetime.timedelta(seconds=30), {"relative": False}, "March 15, 2024 at 12:00 pm"),
        (datetime.timedelta(hours=1), {"relative": False, "gmt_offset": 120}, "9:00 am"),
        (datetime.timedelta(hours=1), {"relative": False, "gmt_offset": -600}, "9:00 pm"),
        (datetime.timedelta(minutes=5), {"gmt_offset": 300}, "5 minutes ago"),
    ],
)
def test_format_date_options(
    frozen_now: datetime.datetime,
    delta: datetime.timedelta,
    kwargs: dict[str, object],
    expected: str,
) -> None:
    assert tlocale.get().format_date(frozen_now - delta, **kwargs) == expected  # type: ignore[arg-type]


def test_format_date_accepts_timestamps_and_naive_datetimes(
    frozen_now: datetime.datetime,
) -> None:
    en = tlocale.get()
    assert en.format_date(frozen_now.timestamp() - 120) == "2 minutes ago"
    assert en.format_date(int(frozen_now.timestamp()) - 7200) == "2 hours ago"
    naive = frozen_now.replace(tzinfo=None) - datetime.timedelta(hours=3)
    assert en.format_date(naive) == "3 hours ago"
    other_zone = datetime.timezone(datetime.timedelta(hours=5))
    assert en.format_date((frozen_now - datetime.timedelta(hours=4)).astimezone(other_zone)) == (
        "4 hours ago"
    )


def test_format_date_clock_styles(frozen_now: datetime.datetime, tmp_path: Path) -> None:
    for code in ("de_DE", "zh_CN", "en"):
        write_csv(tmp_path, code, [["x", "y"]])
    tlocale.load_translations(str(tmp_path))
    morning = frozen_now - datetime.timedelta(hours=3, minutes=55)  # 8:05 UTC
    evening = frozen_now + datetime.timedelta(hours=9)  # in the future: full format
    assert tlocale.get("de_DE").format_date(morning, relative=False) == "8:05"
    assert tlocale.get("zh_CN").format_date(morning, relative=False) == "\u4e0a\u53488:05"
    assert tlocale.get("zh_CN").format_date(evening) == "March 15, 2024 at \u4e0b\u53489:00"
    assert tlocale.get("en").format_date(morning, relative=False) == "8:05 am"
    assert tlocale.get("de_DE").format_date(evening) == "March 15, 2024 at 21:00"


def test_translated_date_formats(frozen_now: datetime.datetime, tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "de_DE",
        [
            ["February", "Februar"],
            ["Tuesday", "Dienstag"],
            ["%(month_name)s %(day)s at %(time)s", "%(day)s. %(month_name)s um %(time)s"],
            ["%(weekday)s at %(time)s", "%(weekday)s um %(time)s"],
            ["1 minute ago", "vor 1 Minute", "singular"],
            ["%(minutes)d minutes ago", "vor %(minutes)d Minuten", "plural"],
            ["%(commas)s and %(last)s", "%(commas)s und %(last)s"],
            ["%(weekday)s, %(month_name)s %(day)s", "%(weekday)s, %(day)s. %(month_name)s"],
        ],
    )
    tlocale.load_translations(str(tmp_path))
    de = tlocale.get("de-DE")
    assert de.format_date(frozen_now - datetime.timedelta(days=30)) == "14. Februar um 12:00"
    assert de.format_date(frozen_now - datetime.timedelta(days=3)) == "Dienstag um 12:00"
    assert de.format_date(frozen_now - datetime.timedelta(minutes=1)) == "vor 1 Minute"
    assert de.format_date(frozen_now - datetime.timedelta(minutes=7)) == "vor 7 Minuten"
    assert de.list(["A", "B", "C"]) == "A, B und C"
    assert de.format_day(datetime.datetime(2024, 2, 13)) == "Dienstag, 13. Februar"


def test_format_day() -> None:
    en = tlocale.get()
    day = datetime.datetime(2024, 3, 15, 1, 30)
    assert en.format_day(day) == "Friday, March 15"
    assert en.format_day(day, dow=False) == "March 15"
    assert en.format_day(day, gmt_offset=120) == "Thursday, March 14"


def test_list() -> None:
    en = tlocale.get()
    assert en.list([]) == ""
    assert en.list(["A"]) == "A"
    assert en.list(["A", "B"]) == "A and B"
    assert en.list(["A", "B", "C"]) == "A, B and C"
    tlocale.set_default_locale("fa_IR")
    assert Locale.get("fa_IR").list(["A", "B", "C"]) == "A \u0648 B and C"


def test_friendly_number() -> None:
    en = tlocale.get()
    assert en.friendly_number(0) == "0"
    assert en.friendly_number(999) == "999"
    assert en.friendly_number(1000) == "1,000"
    assert en.friendly_number(1234567) == "1,234,567"
    assert en.friendly_number(-123456789) == "-123,456,789"
    tlocale.set_default_locale("de_DE")
    assert Locale.get("de_DE").friendly_number(1234567) == "1234567"


def test_base_locale_is_abstract() -> None:
    with pytest.raises(NotImplementedError, match="translate"):
        Locale("en_US")


def test_module_exports() -> None:
    for name in tlocale.__all__:
        assert hasattr(tlocale, name)
