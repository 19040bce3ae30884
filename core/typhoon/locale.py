"""Translation and locale-aware formatting (Tornado's ``tornado.locale``).

Load translations once at startup, either CSV files (:func:`load_translations`) or
compiled gettext catalogs (:func:`load_gettext_translations`), then pick a locale per
request with :func:`get` (closest supported match to the user's preferences) and use
its :meth:`~Locale.translate` and formatting methods. Without translations every
locale falls back to the English source strings.

The state (default locale, loaded translations, supported codes) is process-wide,
as in Tornado: it is configured at startup and read while serving.
"""

from __future__ import annotations

__all__ = [
    "CONTEXT_SEPARATOR",
    "LOCALE_NAMES",
    "CSVLocale",
    "GettextLocale",
    "Locale",
    "get",
    "get_supported_locales",
    "load_gettext_translations",
    "load_translations",
    "set_default_locale",
]

import codecs
import csv
import datetime
import gettext
import os
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from typhoon._locale_data import LOCALE_NAMES
from typhoon.errors import ConfigurationError
from typhoon.log import gen_log

#: Separates a message context from the message in gettext catalogs (``msgctxt``).
CONTEXT_SEPARATOR = "\x04"

_default_locale = "en_US"
# CSV: {code: {"singular"|"plural"|"unknown": {message: translation}}};
# gettext: {code: gettext.GNUTranslations}.
_translations: dict[str, Any] = {}
_supported_locales: frozenset[str] = frozenset([_default_locale])
_use_gettext = False

_CSV_LOCALE_NAME = re.compile(r"[a-z]+(_[A-Z]+)?\Z")
_RTL_LANGUAGES = ("ar", "fa", "he", "ur", "ps", "yi")
_TWELVE_HOUR_LOCALES = frozenset({"en", "en_US"})


def get(*locale_codes: str) -> Locale:
    """Return the supported locale closest to the codes given, in order of preference.

    Codes may use ``-`` or ``_`` and any case (``"en-us"``); a language without a
    country matches the language alone. Falls back to the default locale.
    """
    return Locale.get_closest(*locale_codes)


def set_default_locale(code: str) -> None:
    """Set the locale used when no preferred locale is supported (``en_US`` at first).

    The default locale is always among the supported locales.
    """
    global _default_locale, _supported_locales
    _default_locale = code
    _supported_locales = frozenset([*_translations, _default_locale])
    Locale._cache.clear()


def get_supported_locales() -> frozenset[str]:
    """Return the codes of all locales with translations, plus the default locale."""
    return _supported_locales


def load_translations(directory: str, encoding: str | None = None) -> None:
    """Load CSV translations from ``directory``: one ``<code>.csv`` file per locale.

    Each row is ``source, translation[, plural|singular]``; the optional third column
    says which form of a plural message the row translates (see
    :meth:`Locale.translate`). Files are UTF-8 unless they start with a UTF-16 byte
    order mark, or ``encoding`` says otherwise. Badly named files and rows with an
    unknown plural marker are logged and skipped.
    """
    global _translations, _supported_locales, _use_gettext
    loaded: dict[str, dict[str, dict[str, str]]] = {}
    for filename in sorted(os.listdir(directory)):
        if not filename.endswith(".csv"):
            continue
        code = filename[: -len(".csv")]
        path = os.path.join(directory, filename)
        if not _CSV_LOCALE_NAME.match(code):
            gen_log.error("Unrecognized locale %r (path: %s)", code, path)
            continue
        loaded[code] = _read_csv(path, encoding)
    _translations = dict(loaded)
    _use_gettext = False
    _supported_locales = frozenset([*_translations, _default_locale])
    Locale._cache.clear()
    gen_log.debug("Supported locales: %s", sorted(_supported_locales))


def _read_csv(path: str, encoding: str | None) -> dict[str, dict[str, str]]:
    if encoding is None:
        with open(path, "rb") as bf:
            head = bf.read(len(codecs.BOM_UTF16_LE))
        utf16 = head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        encoding = "utf-16" if utf16 else "utf-8-sig"
    table: dict[str, dict[str, str]] = {}
    with open(path, encoding=encoding, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if len(row) < 2:
                continue
            cells = [cell.strip() for cell in row]
            source, translation = cells[0], cells[1]
            form = (cells[2] if len(cells) > 2 else "") or "unknown"
            if form not in ("plural", "singular", "unknown"):
                gen_log.error("Unrecognized plural indicator %r in %s line %d", form, path, lineno)
                continue
            table.setdefault(form, {})[source] = translation
    return table


def load_gettext_translations(directory: str, domain: str) -> None:
    """Load compiled gettext catalogs: ``<directory>/<code>/LC_MESSAGES/<domain>.mo``.

    Locales whose catalog is missing or unreadable are logged and skipped. Plural
    forms follow each catalog's ``Plural-Forms`` header; message contexts
    (``msgctxt``) are used by :meth:`Locale.pgettext`.
    """
    global _translations, _supported_locales, _use_gettext
    loaded: dict[str, gettext.NullTranslations] = {}
    for code in sorted(os.listdir(directory)):
        if code.startswith(".") or os.path.isfile(os.path.join(directory, code)):
            continue
        catalog = os.path.join(directory, code, "LC_MESSAGES", domain + ".mo")
        try:
            with open(catalog, "rb") as f:
                loaded[code] = gettext.GNUTranslations(f)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            gen_log.error("Cannot load translation for '%s': %s", code, exc)
    _translations = dict(loaded)
    _use_gettext = True
    _supported_locales = frozenset([*_translations, _default_locale])
    Locale._cache.clear()
    gen_log.debug("Supported locales: %s", sorted(_supported_locales))


class Locale:
    """A locale: translates messages and formats dates, lists and numbers for it.

    Obtain instances with :func:`get` or :meth:`Locale.get`, which cache one per code.
    ``code`` is the locale code, ``name`` its native name (``"Unknown"`` when not in
    :data:`LOCALE_NAMES`) and ``rtl`` whether the language is written right to left
    (Arabic, Persian, Hebrew, Urdu, Pashto, Yiddish).
    """

    _cache: ClassVar[dict[str, Locale]] = {}

    @classmethod
    def get_closest(cls, *locale_codes: str) -> Locale:
        """Return the supported locale closest to the codes given (see :func:`get`)."""
        for raw in locale_codes:
            if not raw:
                continue
            parts = raw.replace("-", "_").split("_")
            if len(parts) > 2:
                continue
            language = parts[0].lower()
            if len(parts) == 2:
                full = f"{language}_{parts[1].upper()}"
                if full in _supported_locales:
                    return cls.get(full)
            if language in _supported_locales:
                return cls.get(language)
        return cls.get(_default_locale)

    @classmethod
    def get(cls, code: str) -> Locale:
        """Return the locale for a supported ``code`` exactly (cached)."""
        locale = cls._cache.get(code)
        if locale is not None:
            return locale
        if code not in _supported_locales:
            raise ConfigurationError(f"unsupported locale {code!r}")
        translations = _translations.get(code)
        if translations is None:
            locale = CSVLocale(code, {})
        elif _use_gettext:
            locale = GettextLocale(code, translations)
        else:
            locale = CSVLocale(code, translations)
        cls._cache[code] = locale
        return locale

    def __init__(self, code: str) -> None:
        self.code = code
        self.name: str = LOCALE_NAMES.get(code, {}).get("name", "Unknown")
        self.rtl = code.startswith(_RTL_LANGUAGES)
        _ = self.translate
        self._months = [
            _("January"),
            _("February"),
            _("March"),
            _("April"),
            _("May"),
            _("June"),
            _("July"),
            _("August"),
            _("September"),
            _("October"),
            _("November"),
            _("December"),
        ]
        self._weekdays = [
            _("Monday"),
            _("Tuesday"),
            _("Wednesday"),
            _("Thursday"),
            _("Friday"),
            _("Saturday"),
            _("Sunday"),
        ]

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Return the translation of ``message``.

        With ``plural_message`` and ``count``, the singular or plural form is chosen
        by ``count`` (by the catalog's plural rule for gettext). The English text is
        returned when there is no translation.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement translate()")

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Like :meth:`translate`, for a message that means different things in
        different contexts (gettext ``msgctxt``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement pgettext()")

    def format_date(
        self,
        date: int | float | datetime.datetime,
        gmt_offset: int = 0,
        relative: bool = True,
        shorter: bool = False,
        full_format: bool = False,
    ) -> str:
        """Format a date (a datetime or a POSIX timestamp) for people.

        Recent dates are relative ("3 minutes ago", "yesterday at 5:02 pm"), older
        ones absolute; ``relative=False`` never says "ago" or "yesterday",
        ``full_format=True`` always gives month, day, year and time, ``shorter=True``
        leaves out the time. ``gmt_offset`` is the viewer's offset from UTC in minutes
        (positive west of Greenwich, as JavaScript's ``getTimezoneOffset``). Naive
        datetimes are taken as UTC.
        """
        if isinstance(date, (int, float)):
            date = datetime.datetime.fromtimestamp(date, datetime.UTC)
        elif date.tzinfo is None:
            date = date.replace(tzinfo=datetime.UTC)
        now = datetime.datetime.now(datetime.UTC)
        if date > now:
            # A moment in the future is clock skew between machines: call it "now".
            # Further ahead there is no sensible relative phrase, so spell it out.
            if relative and (date - now).total_seconds() < 60:
                date = now
            else:
                full_format = True
        offset = datetime.timedelta(minutes=gmt_offset)
        local_date = date - offset
        local_yesterday = now - offset - datetime.timedelta(hours=24)
        elapsed = now - date
        days, seconds = elapsed.days, elapsed.seconds
        _ = self.translate

        fmt: str | None = None
        if not full_format:
            if relative and days == 0:
                if seconds < 50:
                    return _("1 second ago", "%(seconds)d seconds ago", seconds) % {
                        "seconds": seconds
                    }
                if seconds < 50 * 60:
                    minutes = round(seconds / 60)
                    return _("1 minute ago", "%(minutes)d minutes ago", minutes) % {
                        "minutes": minutes
                    }
                hours = round(seconds / 3600)
                return _("1 hour ago", "%(hours)d hours ago", hours) % {"hours": hours}
            if days == 0:
                fmt = _("%(time)s")
            elif days == 1 and relative and local_date.day == local_yesterday.day:
                fmt = _("yesterday") if shorter else _("yesterday at %(time)s")
            elif days < 5:
                fmt = _("%(weekday)s") if shorter else _("%(weekday)s at %(time)s")
            elif days < 334:
                # Under eleven months: the year is implied (a full year back would be
                # the same month name, and ambiguous).
                fmt = (
                    _("%(month_name)s %(day)s")
                    if shorter
                    else _("%(month_name)s %(day)s at %(time)s")
                )
        if fmt is None:
            fmt = (
                _("%(month_name)s %(day)s, %(year)s")
                if shorter
                else _("%(month_name)s %(day)s, %(year)s at %(time)s")
            )
        return fmt % {
            "month_name": self._months[local_date.month - 1],
            "weekday": self._weekdays[local_date.weekday()],
            "day": str(local_date.day),
            "year": str(local_date.year),
            "time": self._clock(local_date),
        }

    def _clock(self, moment: datetime.datetime) -> str:
        hour12 = moment.hour % 12 or 12
        if self.code == "zh_CN":
            period = "\u4e0b\u5348" if moment.hour >= 12 else "\u4e0a\u5348"
            return f"{period}{hour12}:{moment.minute:02d}"
        if self.code in _TWELVE_HOUR_LOCALES:
            return f"{hour12}:{moment.minute:02d} {'pm' if moment.hour >= 12 else 'am'}"
        return f"{moment.hour}:{moment.minute:02d}"

    def format_day(self, date: datetime.datetime, gmt_offset: int = 0, dow: bool = True) -> str:
        """Format a day as "Monday, January 22" (``dow=False``: "January 22").

        ``gmt_offset`` is in minutes, as for :meth:`format_date`.
        """
        local_date = date - datetime.timedelta(minutes=gmt_offset)
        _ = self.translate
        values = {
            "month_name": self._months[local_date.month - 1],
            "weekday": self._weekdays[local_date.weekday()],
            "day": str(local_date.day),
        }
        if dow:
            return _("%(weekday)s, %(month_name)s %(day)s") % values
        return _("%(month_name)s %(day)s") % values

    def list(self, parts: Sequence[str]) -> str:
        """Join items as a sentence: "A, B and C" (in the locale's words)."""
        if not parts:
            return ""
        if len(parts) == 1:
            return parts[0]
        # Persian joins with its own "and" rather than a comma.
        comma = " \u0648 " if self.code.startswith("fa") else ", "
        return self.translate("%(commas)s and %(last)s") % {
            "commas": comma.join(parts[:-1]),
            "last": parts[-1],
        }

    def friendly_number(self, value: int) -> str:
        """Format an integer with thousands separators where the locale uses them."""
        if self.code not in ("en", "en_US"):
            return str(value)
        return f"{value:,}"


def _plural_count(count: int | None) -> int:
    if count is None:
        raise ValueError("count is required when plural_message is given")
    return count


class CSVLocale(Locale):
    """A locale translated by a table loaded from CSV (see :func:`load_translations`)."""

    def __init__(self, code: str, translations: dict[str, dict[str, str]]) -> None:
        self.translations = translations
        self._warned_pgettext = False
        super().__init__(code)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Return the translation of ``message`` (see :meth:`Locale.translate`)."""
        if plural_message is None:
            table = self.translations.get("unknown", {})
        elif _plural_count(count) != 1:
            message = plural_message
            table = self.translations.get("plural", {})
        else:
            table = self.translations.get("singular", {})
        return table.get(message, message)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """CSV tables have no contexts: translates ``message`` as :meth:`translate`."""
        if self.translations and not self._warned_pgettext:
            self._warned_pgettext = True
            gen_log.warning("pgettext is not supported by CSVLocale (locale %s)", self.code)
        return self.translate(message, plural_message, count)


class GettextLocale(Locale):
    """A locale translated by a gettext catalog (see :func:`load_gettext_translations`)."""

    def __init__(self, code: str, translations: gettext.NullTranslations) -> None:
        self.translations = translations
        self.ngettext = translations.ngettext
        self.gettext = translations.gettext
        super().__init__(code)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Return the translation of ``message`` (see :meth:`Locale.translate`)."""
        if plural_message is None:
            return self.gettext(message)
        return self.ngettext(message, plural_message, _plural_count(count))

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Translate ``message`` in ``context`` (``msgctxt``).

        Without a translation in that context, a singular message is returned as
        given and a plural one falls back to its translation without context.
        """
        if plural_message is None:
            result = self.gettext(f"{context}{CONTEXT_SEPARATOR}{message}")
            return message if CONTEXT_SEPARATOR in result else result
        n = _plural_count(count)
        result = self.ngettext(
            f"{context}{CONTEXT_SEPARATOR}{message}",
            f"{context}{CONTEXT_SEPARATOR}{plural_message}",
            n,
        )
        if CONTEXT_SEPARATOR in result:
            return self.ngettext(message, plural_message, n)
        return result
