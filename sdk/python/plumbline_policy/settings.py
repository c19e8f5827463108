"""Strict reading of a policy's settings (parsed JSON): :class:`Settings`
refuses a value that is not an object, unknown keys and values of the wrong
type with a :class:`SettingsError` whose message names the setting
(``settings.labels[1] must be a string, found a number``). The messages are
the same as those of the Rust standard policies. No IO."""

from . import paths

__all__ = ["Settings", "SettingsError", "json_type"]


class SettingsError(Exception):
    """Settings were refused; the message is shown to the operator as is.
    Raise it from ``check_settings``."""


def json_type(value) -> str:
    """The JSON type name of a value, for messages (``a string``, ``a list``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Settings:
    """A settings object (or an object nested in one) whose keys were
    checked against the known ones."""

    def __init__(self, value, known, at: str = "settings"):
        """Check ``value``: it must be an object whose keys are all in
        ``known``. At the top level (``at == "settings"``) ``None`` reads as
        ``{}``; nested, it is refused."""
        if value is None and at == "settings":
            value = {}
        if not isinstance(value, dict):
            raise SettingsError("%s must be an object, found %s" % (at, json_type(value)))
        for key in value:
            if key not in known:
                raise SettingsError(
                    "unknown setting `%s` in %s (known: %s)" % (key, at, ", ".join(known))
                )
        self.at = at
        self._map = value

    def name(self, key: str) -> str:
        """The full name of a key, e.g. ``settings.labels``."""
        return "%s.%s" % (self.at, key)

    def item_name(self, key: str, i: int) -> str:
        """The full name of one item of a list, e.g. ``settings.workloads[0]``."""
        return "%s[%d]" % (self.name(key), i)

    def get(self, key: str):
        """The raw value of a key, ``None`` if absent or ``null``."""
        return self._map.get(key)

    def require(self, key: str):
        """A value that must be present."""
        value = self.get(key)
        if value is None:
            raise SettingsError("%s is required" % self.name(key))
        return value

    def bool(self, key: str, default: bool = False) -> bool:
        """A boolean, ``default`` when absent."""
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong_type(key, "true or false", value)
        return value

    def string(self, key: str, default=None):
        """A string, ``default`` when absent."""
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._wrong_type(key, "a string", value)
        return value

    def string_list(self, key: str):
        """A list of strings, ``None`` when absent."""
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._wrong_type(key, "a list of strings", value)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise SettingsError(
                    "%s must be a string, found %s" % (self.item_name(key, i), json_type(item))
                )
        return list(value)

    def string_map(self, key: str):
        """An object whose values are all strings, ``None`` when absent; its
        items sorted by key."""
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong_type(key, "an object of strings", value)
        for k in sorted(value):
            if not isinstance(value[k], str):
                raise SettingsError(
                    "%s must be a string, found %s"
                    % (paths.child(self.name(key), k), json_type(value[k]))
                )
        return dict(sorted(value.items()))

    def list(self, key: str):
        """A list of any values, ``None`` when absent (check each item, e.g.
        with ``Settings(item, known, at=s.item_name(key, i))``)."""
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._wrong_type(key, "a list", value)
        return value

    def invalid(self, key: str, reason: str) -> SettingsError:
        """A :class:`SettingsError` about a key: ``settings.<key> <reason>``."""
        return SettingsError("%s %s" % (self.name(key), reason))

    def _wrong_type(self, key, expected, found) -> SettingsError:
        return SettingsError("%s must be %s, found %s" % (self.name(key), expected, json_type(found)))
