"""Sphinx helpers for the pixel_regressor documentation.

- The ``benchmark-results`` directive renders ``benchmarks/results/latest.md``
  (a Markdown report written by ``python benchmarks/run.py``) as
  reStructuredText, or a note saying how to produce it when it does not exist
  yet. The Markdown is converted here (headings, paragraphs, lists, code
  blocks and pipe tables), so the documentation does not need a Markdown
  parser. Anything the conversion cannot render cleanly is shown verbatim.
- The ``heads-table`` directive lists the heads and the defaults of their
  ``"auto"`` parameters, read from ``pixel_regressor.models.HEADS``.
- References to a few Keras objects link to keras.io, which publishes no
  inventory for intersphinx.
- A fitted attribute in a shape, ``(n_features_in_,)``, is quoted so that
  reStructuredText does not read it as a reference.
- Without intersphinx (the offline default), ``:ref:`` and ``:term:`` roles
  in docstrings inherited from scikit-learn point at labels and glossary
  terms of scikit-learn's own documentation, which cannot be resolved; they
  are turned into plain text.
"""

import re
from pathlib import Path

import docutils.core
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

RESULTS = Path("benchmarks") / "results" / "latest.md"

_PLACEHOLDER = """\
.. note::

   No benchmark results have been recorded in this checkout yet. Run::

       python benchmarks/run.py

   from the root of the repository; it writes ``benchmarks/results/latest.md``,
   which this page shows after the next documentation build.
"""

# -- Markdown to reStructuredText -----------------------------------------------

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[([^\]]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*|__(\S(?:.*?\S)?)__")
_EMPHASIS = re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _escape(text):
    """Escape characters that reStructuredText would read as markup."""
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>])", r"\1", text)  # Markdown escapes
    return re.sub(r"([\\`*_|])", r"\\\1", text)


def _wrap(markup, before, after):
    """Add escaped spaces so ``markup`` is recognised next to other text."""
    if before and not before[-1].isspace():
        markup = "\\ " + markup
    if after and not after[0].isspace():
        markup = markup + "\\ "
    return markup


def _inline(text):
    """Convert one Markdown line (or table cell) to reStructuredText."""
    tokens = []  # (kind, payload)
    position = 0
    patterns = [
        ("code", _CODE_SPAN),
        ("link", _LINK),
        ("strong", _STRONG),
        ("emphasis", _EMPHASIS),
    ]
    while position < len(text):
        best = None
        for kind, pattern in patterns:
            match = pattern.search(text, position)
            if match and (best is None or match.start() < best[1].start()):
                best = (kind, match)
        if best is None:
            tokens.append(("text", text[position:]))
            break
        kind, match = best
        tokens.append(("text", text[position : match.start()]))
        tokens.append((kind, match))
        position = match.end()

    out = []
    for index, (kind, payload) in enumerate(tokens):
        if kind == "text":
            out.append(_escape(payload))
            continue
        before = "".join(out)
        following = tokens[index + 1 :]
        after = following[0][1] if following and following[0][0] == "text" else ""
        if kind == "code":
            body = payload.group(2).strip()
            markup = f"``{body}``" if body else ""
        elif kind == "link":
            label = payload.group(1).replace("`", "").replace("<", "").strip()
            markup = f"`{label} <{payload.group(2)}>`__"
        elif kind == "strong":
            markup = f"**{_escape(payload.group(1) or payload.group(2))}**"
        else:
            markup = f"*{_escape(payload.group(1))}*"
        out.append(_wrap(markup, before, after) if markup else "")
    return "".join(out)


def _table_cells(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells = re.split(r"(?<!\\)\|", line)
    return [cell.strip().replace("\\|", "|") for cell in cells]


def _list_table(rows):
    """A ``list-table`` directive from a header row and body rows."""
    width = len(rows[0])
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        row = (row + [""] * width)[:width]
        for i, cell in enumerate(row):
            converted = _inline(cell) or r"\ "
            lines.append(f"   {'*' if i == 0 else ' '} - {converted}")
    lines.append("")
    return lines


def markdown_to_rst(markdown):
    """Convert a Markdown report to reStructuredText lines.

    The title (a level-1 heading) is dropped and other headings become
    rubrics (a page section cannot be opened inside a directive), pipe tables
    become ``list-table`` directives, fenced code becomes literal blocks;
    paragraphs and lists are kept, with inline code, links, bold and italics
    converted and everything else escaped.
    """
    text = _HTML_COMMENT.sub("", markdown.replace("\r\n", "\n"))
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        # fenced code
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            i += 1
            body = []
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            i += 1
            out += ["::", ""] + ["    " + b if b.strip() else "" for b in body] + [""]
            continue
        # heading
        match = _HEADING.match(line)
        if match:
            # The report's own title repeats the page's: drop it.
            if len(match.group(1)) > 1:
                out += [f".. rubric:: {_inline(match.group(2))}", ""]
            i += 1
            continue
        # pipe table
        if "|" in line and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
            rows = [_table_cells(line)]
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_table_cells(lines[i]))
                i += 1
            out += _list_table(rows)
            continue
        # list
        if _LIST_ITEM.match(line):
            hanging = "  "
            while i < len(lines) and lines[i].strip():
                item = _LIST_ITEM.match(lines[i])
                if item:
                    marker = item.group(2)
                    marker = "-" if marker in "-*+" else marker
                    indent = item.group(1)
                    content = lines[i][item.end() :]
                    out.append(f"{indent}{marker} {_inline(content)}")
                    hanging = " " * (len(indent) + len(marker) + 1)
                else:  # continuation line of the item
                    out.append(hanging + _inline(lines[i].strip()))
                i += 1
            out.append("")
            continue
        # paragraph (a block quote is read as a paragraph)
        paragraph = []
        while (
            i < len(lines)
            and lines[i].strip()
            and not _HEADING.match(lines[i])
            and not _LIST_ITEM.match(lines[i])
            and not lines[i].strip().startswith(("```", "~~~"))
            and not (
                "|" in lines[i]
                and i + 1 < len(lines)
                and _TABLE_RULE.match(lines[i + 1])
            )
        ):
            paragraph.append(_inline(lines[i].strip().lstrip(">").strip()))
            i += 1
        out += [*paragraph, ""]
    return out


def _renders_cleanly(rst):
    """Whether docutils parses ``rst`` without a single warning."""
    try:
        document = docutils.core.publish_doctree(
            rst,
            settings_overrides={
                "report_level": 5,
                "halt_level": 5,
                "warning_stream": False,
                "file_insertion_enabled": False,
                "raw_enabled": False,
            },
        )
    except Exception:  # noqa: BLE001 - any failure means "show it verbatim"
        return False
    return not any(
        message["level"] >= 2 for message in document.findall(nodes.system_message)
    )


class BenchmarkResults(SphinxDirective):
    """Show the latest benchmark report, or how to produce it."""

    has_content = False
    required_arguments = 0
    optional_arguments = 0

    def run(self):
        root = Path(self.env.srcdir).parent
        path = root / RESULTS
        # Rebuild this page whenever the report changes (or appears).
        self.env.note_dependency(str(path))
        if path.is_file():
            markdown = path.read_text(encoding="utf-8")
            lines = markdown_to_rst(markdown)
            if not _renders_cleanly("\n".join(lines)):
                lines = ["::", ""] + [
                    "    " + line for line in markdown.rstrip().split("\n")
                ]
            lines = [
                f"*From* ``{RESULTS.as_posix()}``\\ *:*",
                "",
                *lines,
            ]
        else:
            lines = _PLACEHOLDER.split("\n")
        container = nodes.container(classes=["benchmark-results"])
        self.state.nested_parse(
            StringList(lines, source=str(path)), self.content_offset, container
        )
        return [container]


# -- docstrings inherited from scikit-learn -------------------------------------

_REF_WITH_TITLE = re.compile(r":(?:ref|term):`([^`<]+?)\s*<[^`>]+>`")
_REF_BARE = re.compile(r":(?:ref|term):`([^`]+)`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    """Turn ``:ref:`` and ``:term:`` roles of scikit-learn's docstrings into text."""
    if app.config.intersphinx_mapping:
        return
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith("sklearn"):
        return
    for index, line in enumerate(lines):
        line = _REF_WITH_TITLE.sub(r"\1", line)
        lines[index] = _REF_BARE.sub(lambda m: m.group(1).replace("_", " "), line)


# -- shapes in types --------------------------------------------------------------

# A fitted attribute's name in a shape, "(n_features_in_,)", reads as a
# reference to a target "n_features_in" in reStructuredText: quote it.
_SHAPE_ATTRIBUTE = re.compile(r"(?<![`\w])\((\w+_)(,?)\)")


def _quote_shape_attributes(app, what, name, obj, options, lines):
    for index, line in enumerate(lines):
        lines[index] = _SHAPE_ATTRIBUTE.sub(r"(``\1``\2)", line)


# -- Keras objects ----------------------------------------------------------------

_KERAS = "https://keras.io/api/"
KERAS_URLS = {
    "keras.Model": _KERAS + "models/model/",
    "keras.saving.load_model": _KERAS
    + "models/model_saving_apis/model_saving_and_loading/#load_model-function",
    "keras.callbacks.Callback": _KERAS + "callbacks/base_callback/",
    "keras.callbacks.History": _KERAS + "models/model_training_apis/#fit-method",
    "keras.utils.set_random_seed": _KERAS
    + "utils/python_utils/#setrandomseed-function",
}


def _link_keras(app, env, node, contnode):
    """Resolve references to a few Keras objects to keras.io pages.

    keras.io is not built with Sphinx and has no inventory for intersphinx.
    """
    target = node.get("reftarget", "").lstrip("~.")
    url = KERAS_URLS.get(target)
    if node.get("refdomain") != "py" or url is None:
        return None
    return nodes.reference("", "", contnode, refuri=url, internal=False)


class HeadsTable(SphinxDirective):
    """A table of the heads, read from ``pixel_regressor.models.HEADS``."""

    has_content = False
    required_arguments = 0
    optional_arguments = 0

    def run(self):
        from pixel_regressor.models import HEADS

        def literal(value):
            return f"``{value!r}``"

        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - ``head``",
            "     - what it is",
            "     - ``filters``",
            "     - ``kernel_size``",
            "     - ``learning_rate``",
            "     - ``epochs``",
            "     - ``batch_size``",
            "     - smallest image",
            "     - other sizes at predict",
        ]
        for name, spec in HEADS.items():
            side = spec.min_image_size()
            lines += [
                f"   * - {literal(name)}",
                f"     - {spec.summary}",
                *(
                    f"     - {literal(spec.defaults[key])}"
                    for key in (
                        "filters",
                        "kernel_size",
                        "learning_rate",
                        "epochs",
                        "batch_size",
                    )
                ),
                f"     - {side}x{side}",
                f"     - {'yes' if spec.any_image_size else 'no'}",
            ]
        container = nodes.container(classes=["heads-table"])
        self.state.nested_parse(
            StringList(lines, source="pixel_regressor.models.HEADS"),
            self.content_offset,
            container,
        )
        return [container]


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.add_directive("benchmark-results", BenchmarkResults)
    app.add_directive("heads-table", HeadsTable)
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
    app.connect("autodoc-process-docstring", _quote_shape_attributes)
    app.connect("missing-reference", _link_keras)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
