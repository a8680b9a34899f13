"""Maths without a network in formgrader and in feedback: the MathJax 2.7 of jupyter-server-mathjax.

nbgrader's ``formgrade`` and ``feedback`` templates call nbconvert's ``mathjax()`` macro
with no argument, so ``HTMLExporter.mathjax_url`` never reaches them and MathJax always
came from a CDN. :func:`configure_mathjax` puts a ``mathjax.html.j2`` of its own before
nbconvert's in both templates' search paths; its ``mathjax()`` asks the ``lrjax_mathjax``
filter (:func:`mathjax_html`) for the page's MathJax:

* formgrade (served by Jupyter, whose jupyter-server-mathjax extension serves MathJax at
  ``<base_url>/static/jupyter_server_mathjax/``): a script tag for that copy, relative to the
  page, with the STIX-Web fonts it ships. formgrade.js needs MathJax 2's ``MathJax.Hub``.
* feedback (a file a student may open from disk): the MathJax scripts themselves, inline,
  with MathJax's TeX input and its MathML output, which the browser draws with a local
  maths font (Cambria Math, STIX Two Math, ...): no file or font to fetch, about 0.5 MB.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import re
import tempfile
from pathlib import Path

FILTER = "lrjax_mathjax"
COMBINED = "TeX-AMS-MML_HTMLorMML-full"  # the one combined configuration the package ships
# nbgrader serves a submission at <base_url>/formgrader/submissions/<id>/ (it adds the slash).
FORMGRADE_SRC = f"../../../static/jupyter_server_mathjax/MathJax.js?config={COMBINED},Safe"
CDN_SRC = f"https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/MathJax.js?config={COMBINED},Safe"
# The TeX extensions that MathJax loads by itself when a formula needs them.
TEX_EXTENSIONS = ("HTML", "bbox", "boldsymbol", "mathchoice", "newcommand", "unicode", "verb")

_PAGES = ("feedback", "formgrade")  # nbgrader's templates, both calling mathjax() bare
_MACRO = '{%- macro mathjax(url=None) -%}{{ "PAGE" | ' + FILTER + " }}{%- endmacro %}\n"
_OPTIONS = r"""tex2jax: {inlineMath: [["$", "$"], ["\\(", "\\)"]],
  displayMath: [["$$", "$$"], ["\\[", "\\]"]], processEscapes: true, processEnvironments: true},
 TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
 displayAlign: "center", messageStyle: "none","""
_FORMGRADE = '"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web",'
_FORMGRADE += " imageFont: null, linebreaks: {automatic: true}}"
_FEEDBACK = """delayStartupUntil: "configured", jax: ["input/TeX", "output/NativeMML"],
 extensions: ["tex2jax.js", "Safe.js"], showMathMenu: false, "fast-preview": {disabled: true},
 menuSettings: {renderer: "NativeMML", zoom: "None", assistiveMML: false}"""
# Browsers draw <math> in the "math" font, which fontconfig often leaves unmapped.
_FONTS = '"STIX Two Math", "Cambria Math", "Latin Modern Math", "DejaVu Math TeX Gyre", math'
# MathML Core (Chromium) ignores mathvariant and the thin space after \log, \sin, ...:
# write \mathbb R as U+211D etc., and give U+2061 (function application) that space.
_FIXUPS = r"""(function () {
var V = {"bold": 0, "italic": 1, "bold-italic": 2, "script": 3, "bold-script": 4, "fraktur": 5,
 "double-struck": 6, "bold-fraktur": 7, "sans-serif": 8, "bold-sans-serif": 9,
 "sans-serif-italic": 10, "sans-serif-bold-italic": 11, "monospace": 12};
var HOLES = {"1h": 0x210E, "3B": 0x212C, "3E": 0x2130, "3F": 0x2131, "3H": 0x210B, "3I": 0x2110,
 "3L": 0x2112, "3M": 0x2133, "3R": 0x211B, "3e": 0x212F, "3g": 0x210A, "3o": 0x2134,
 "5C": 0x212D, "5H": 0x210C, "5I": 0x2111, "5R": 0x211C, "5Z": 0x2128, "6C": 0x2102,
 "6H": 0x210D, "6N": 0x2115, "6P": 0x2119, "6Q": 0x211A, "6R": 0x211D, "6Z": 0x2124};
var DIGITS = {0: 0, 6: 10, 8: 20, 9: 30, 12: 40};
var GREEK = {0: 0x1D6A8, 1: 0x1D6E2, 2: 0x1D71C, 9: 0x1D756, 11: 0x1D790};
var CLOSE = /[)\]}|!\u2016\u2225\u27E9\u2309\u230B]/;
function styled(ch, k) {
  var c = ch.charCodeAt(0), cp = HOLES[k + ch];
  if (c >= 65 && c <= 90) cp = cp || 0x1D400 + 52 * k + c - 65;
  else if (c >= 97 && c <= 122) cp = cp || 0x1D41A + 52 * k + c - 97;
  else if (c >= 48 && c <= 57 && k in DIGITS) cp = 0x1D7CE + DIGITS[k] + c - 48;
  else if (c >= 0x391 && c <= 0x3A9 && k in GREEK) cp = GREEK[k] + c - 0x391;
  else if (c >= 0x3B1 && c <= 0x3C9 && k in GREEK) cp = GREEK[k] + 26 + c - 0x3B1;
  return cp ? String.fromCodePoint(cp) : ch;
}
function fix() {
  document.querySelectorAll("math [mathvariant]").forEach(function (el) {
    var k = V[el.getAttribute("mathvariant")];
    if (k === undefined || el.children.length) return;
    var chars = Array.from(el.textContent);
    el.textContent = chars.map(function (ch) { return styled(ch, k); }).join("");
    el.setAttribute("mathvariant", "normal");
  });
  document.querySelectorAll("math mo:not([data-lrjax])").forEach(function (el) {
    var t = el.textContent, prev = el.previousElementSibling, next = el.nextElementSibling;
    var fn = prev, left = prev && prev.previousElementSibling;
    el.setAttribute("data-lrjax", "");
    while (prev && prev.lastElementChild) prev = prev.lastElementChild;
    while (next && next.firstElementChild) next = next.firstElementChild;
    while (left && left.lastElementChild) left = left.lastElementChild;
    if (t === "\u2061" && next && next.localName !== "mo") el.setAttribute("rspace", "0.1667em");
    if (t === "\u2061" && left && (left.localName !== "mo" || CLOSE.test(left.textContent))) {
      var space = document.createElementNS(el.namespaceURI, "mspace");  // y\,\log a
      space.setAttribute("width", "0.1667em");
      fn.parentNode.insertBefore(space, fn);
    }
    if (/^[+\u2212\u00B1\u2213]$/.test(t) && prev && prev.localName === "mo"
        && !CLOSE.test(prev.textContent)) el.setAttribute("form", "prefix");  // = -x, (-x
  });
}
MathJax.Hub.Register.MessageHook("End Process", fix);
MathJax.Hub.Configured();
})();"""

log = logging.getLogger(__name__)


def static_dir() -> Path | None:
    """Where jupyter-server-mathjax keeps MathJax.

    Returns:
        The folder with ``MathJax.js``, or None if the package is not installed.
    """
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "static"


def _script(js: str) -> str:
    """``js`` as an inline ``<script>``, with what would end or confuse it escaped."""
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE).replace("<!--", "<\\!--")
    return f"<script>\n{js}\n</script>"


def _inline_mathjax(static: Path) -> str:
    """MathJax.js with the combined TeX configuration, Safe, the TeX extensions MathJax may
    load on demand and the operator tables, all inline: nothing left to fetch."""
    combined = (static / "config" / f"{COMBINED}.js").read_text(encoding="utf-8")
    files = [static / "extensions" / "Safe.js"]
    files += [static / "extensions" / "TeX" / f"{name}.js" for name in TEX_EXTENSIONS]
    files += sorted((static / "jax" / "element" / "mml" / "optable").glob("*.js"))
    loaded = set(re.findall(r'loadComplete\("\[MathJax\]/([^"]+)"\)', combined))
    rest = [f for f in files if f.relative_to(static).as_posix() not in loaded]
    parts = [f"window.MathJax = {{{_OPTIONS}\n {_FEEDBACK}}};"]
    parts += [(static / "MathJax.js").read_text(encoding="utf-8"), combined]
    parts += [f.read_text(encoding="utf-8") for f in rest] + [_FIXUPS]
    return f"<style>math {{font-family: {_FONTS};}}</style>\n" + "\n".join(map(_script, parts))


@functools.cache
def mathjax_html(page: str) -> str:
    """The HTML that loads MathJax into a page; the Jinja filter ``lrjax_mathjax``.

    Args:
        page: ``"formgrade"`` (a page that Jupyter serves) or ``"feedback"`` (a file).

    Returns:
        For formgrade, a script tag for the MathJax that Jupyter serves; for feedback,
        MathJax inline. Without jupyter-server-mathjax, MathJax from a CDN (logged).
    """
    static = static_dir()
    if static is None or not (static / "MathJax.js").is_file():
        log.warning("jupyter-server-mathjax is not installed: maths loads MathJax from a CDN")
        return f'<script>window.MathJax = {{{_OPTIONS}}};</script><script src="{CDN_SRC}"></script>'
    if page == "formgrade":
        head = f"<script>window.MathJax = {{{_OPTIONS}\n {_FORMGRADE}}};</script>"
        return f'{head}\n<script src="{FORMGRADE_SRC}"></script>'
    return _inline_mathjax(static)


_temporary_dir = functools.cache(lambda: Path(tempfile.mkdtemp(prefix="lrjax-templates-")))


def template_dir() -> Path:
    """Write the ``mathjax.html.j2`` of the ``feedback`` and ``formgrade`` templates.

    Returns:
        A folder for ``HTMLExporter.extra_template_basedirs``: one per version of the
        templates in the user's cache (``$XDG_CACHE_HOME/lrjax``), else a temporary one.
    """
    files = {f"{page}/mathjax.html.j2": _MACRO.replace("PAGE", page) for page in _PAGES}
    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lrjax"
    for base in (cache / f"nbconvert-templates-{digest}", None):
        try:
            base = base or _temporary_dir()
            for name, text in files.items():
                path = base / name
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_name(f".{path.name}.{os.getpid()}")
                    tmp.write_text(text, encoding="utf-8")
                    os.replace(tmp, path)
            return base
        except OSError:
            continue
    raise OSError("cannot write nbconvert templates")  # pragma: no cover


def configure_mathjax(c) -> None:
    """Make formgrader and ``nbgrader generate_feedback`` render maths without a network.

    Args:
        c: the configuration that ``nbgrader_config.py`` gets from ``get_config()``. Sets
            ``HTMLExporter.extra_template_basedirs`` (ours first, then any already set, then
            nbgrader's own) and adds the ``lrjax_mathjax`` filter to ``HTMLExporter.filters``.

    Returns:
        None; ``c`` is changed in place.
    """
    import nbgrader  # the course's config is only ever read by nbgrader

    nbgrader_templates = str(
        Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    )
    section = c.HTMLExporter
    given = section["extra_template_basedirs"] if "extra_template_basedirs" in section else []
    ours = str(template_dir())
    dirs = [ours, *(d for d in given if d != ours)]
    if nbgrader_templates not in dirs:
        dirs.append(nbgrader_templates)
    section.extra_template_basedirs = dirs
    section.filters.update({FILTER: f"{__name__}.mathjax_html"})
