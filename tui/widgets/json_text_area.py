"""The JSON tab's text area: Textual's TextArea with JSON highlighting and the current error's place painted."""

from __future__ import annotations

import tree_sitter
import tree_sitter_json
from rich.style import Style
from rich.text import Text
from textual.widgets import TextArea

from tui.widgets.ordered_keys import OrderedTextArea

# Textual's bundled json.scm minus its two `conceal` patterns: py-tree-sitter 0.26.1 frees a query's predicate
# lists twice when the query is dropped (heap corruption, then a segfault at a random later point), and those
# patterns are the only ones with predicates (#set!, #eq?). Conceal does not style anything, so nothing is lost.
JSON_HIGHLIGHT_QUERY = """
[
 (true)
 (false)
] @boolean

(null) @json.null

(number) @number

(pair key: (string) @json.label)
(pair value: (string) @string)

(array (string) @string)

(string_content) @spell

(ERROR) @json.error

["," ":"] @punctuation.delimiter

[
 "[" "]"
 "{" "}"
] @punctuation.bracket

(escape_sequence) @string.escape
"""


def _json_language() -> tree_sitter.Language | None:
    """tree-sitter's JSON grammar, or None when this build of the grammar does not load (the text is then plain)."""
    try:
        return tree_sitter.Language(tree_sitter_json.language())
    except (OSError, AttributeError, ValueError, TypeError):
        return None


class JsonTextArea(OrderedTextArea):
    """A JSON TextArea that paints the line (and column) of the current validation error."""

    COMPONENT_CLASSES = TextArea.COMPONENT_CLASSES | {"json-area--error-line", "json-area--error-column"}

    DEFAULT_CSS = """
    JsonTextArea > .json-area--error-line {
        background: $error 25%;
    }
    JsonTextArea > .json-area--error-column {
        background: $error;
        color: $text;
    }
    """

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, show_line_numbers=True, tab_behavior="indent", soft_wrap=False)
        self.error_location: tuple[int, int] | None = None  # (row, column) from 0
        language = _json_language()
        if language is not None:  # without the grammar the text is plain, still editable
            self.register_language("json", language, JSON_HIGHLIGHT_QUERY)
            self.language = "json"

    def set_error_location(self, location: tuple[int, int] | None) -> None:
        if location == self.error_location:
            return
        self.error_location = location
        self._line_cache.clear()  # rendered lines are cached by content, not by the error marker
        self.refresh()

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        if self.error_location is not None and self.error_location[0] == line_index:
            line.stylize(self._component_style("json-area--error-line"))
            column = self.error_location[1]
            if column < len(line):
                line.stylize(self._component_style("json-area--error-column"), column, column + 1)
        return line

    def _component_style(self, name: str) -> Style:
        try:
            return self.get_component_rich_style(name)
        except Exception:  # before styles are ready (very first paint): no marker rather than a crash
            return Style()
