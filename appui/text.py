"""Text from outside the app (file and column names, library messages, values of the address) shown as
it is: Streamlit renders markdown, LaTeX and its own directives in every message, caption and label."""

from __future__ import annotations

import re

# Every ASCII punctuation character markdown, LaTeX ($) or a directive (:) could read; CommonMark shows a
# backslash-escaped one as itself.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:=&\"'])")


def plain(text):
    """``text`` for a Streamlit message or caption, shown character for character: no bold from ``__``,
    no link from ``[a](b)``, no formula from ``$x$``, no icon or colour from ``:name:``, no HTML. A word
    joiner after each colon also keeps a URL from becoming a link."""
    return _SPECIAL.sub(r"\\\1", str(text)).replace(":", ":\u2060")
