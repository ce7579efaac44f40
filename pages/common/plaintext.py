"""User text shown as plain text: the one way pages put text people typed on screen.

Streamlit renders the body of ``st.markdown``, ``st.caption``, ``st.info``/``warning``/
``error``/``success``, ``st.subheader``, ``st.toast`` and expander labels as Markdown, so a
work-order title such as ``[urgent](https://evil.example)`` or ``![x](https://evil.example/
pixel)`` would become a real link or an external image in someone else's page. Text that
came from a user (URL parameters, work-order titles, details and comments, intelligence
reports, names and notes) goes through :func:`plain` before it is put into any of those, and
never into ``unsafe_allow_html``.
"""

from __future__ import annotations

import re

import streamlit as st

# Characters that start Markdown structure or Streamlit's extensions anywhere in a line:
# links and images ([ ] !), colour directives (:red[…]), HTML and autolinks (< >), emphasis
# (* ~, and _ unless inside a word, where it never emphasises), code (`), tables (|), maths ($)
# and the escape itself.
_ANYWHERE = re.compile(r"([\\`*{}\[\]<>|~$!]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")
# Structure only at the start of a line: headings, lists, quotes, rules, setext headings.
_LINE_START = re.compile(r"^(\s*)([-+=>#]|\d+[.)])", re.MULTILINE)
# Bare links GFM turns into anchors: a scheme's "://", "www." and e-mail addresses.
_AUTOLINK = re.compile(r"(?i)(:)(//)|\b(www)(\.)|(@)")


def plain(value: object) -> str:
    """``value`` as text that every Markdown-rendering element shows literally.

    Every character that could start Markdown structure is backslash-escaped (CommonMark
    shows an escaped punctuation character as itself); line breaks are kept.
    """
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ANYWHERE.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: "".join("\\" + g if g in (":", ".", "@") else (
        "\\/\\/" if g == "//" else g) for g in m.groups() if g), text)
    text = _LINE_START.sub(lambda m: m.group(1) + "".join("\\" + c if not c.isdigit() else c
                                                          for c in m.group(2)), text)
    return text.replace("\n", "  \n")


def show_text(value: object, *, where=st) -> None:
    """Write ``value`` as a paragraph of plain text (``where``: a column or container)."""
    where.markdown(plain(value))
