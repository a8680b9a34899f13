"""Maths renders without a network: in feedback HTML opened from disk, and in formgrader.

The slow tests build a one-notebook nbgrader course (a Markdown cell of maths, a graded
cell) whose ``nbgrader_config.py`` calls :func:`configure_mathjax`, run the real
``nbgrader`` on it, open the feedback in headless Chromium with DNS switched off, and start
a real ``jupyter server`` to fetch formgrader's page of the submission and its MathJax.
"""

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from grader.hooks._mathjax import FILTER, configure_mathjax, mathjax_html, static_dir

BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "lrjax-test-token"
BASE_URL = "/user/grader"  # formgrader finds MathJax under any base URL
MATHS = r"""The loss $$J = -\frac{1}{m} \sum_{i=1}^{m} \Big(y^{(i)} \log a^{(i)} +
\big(1 - y^{(i)}\big) \log\big(1 - a^{(i)}\big)\Big)$$ with $\frac{da}{dz} = a(1 - a)$,
$w \in \mathbb{R}^n$, $\boldsymbol{\theta}$, $a < b$ and $\binom{n}{k}$; \$5 is money."""
FORMULAS = 6
CONFIG = """c = get_config()
c.CourseDirectory.course_id = "maths"
from grader.hooks._mathjax import configure_mathjax
configure_mathjax(c)
"""
needs_mathjax = pytest.mark.skipif(static_dir() is None, reason="jupyter-server-mathjax missing")


# formgrader and MathJax only: the server's other extensions would only slow its start.
LEAN = {"ServerApp": {"jpserver_extensions": {"jupyterlab": False, "jupyter_lsp": False}}}
LEAN["ServerApp"]["jpserver_extensions"] |= {
    name: False
    for name in ("jupyterlab_jupytext", "jupyter_server_terminals", "notebook", "notebook_shim")
}
LEAN["ServerApp"]["jpserver_extensions"] |= {
    f"nbgrader.server_extensions.{name}": False
    for name in ("assignment_list", "course_list", "validate_assignment")
}


def _env(tmp: Path) -> dict[str, str]:
    """This environment's executables first; Jupyter's and the cache's folders in ``tmp``."""
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "XDG_CACHE_HOME"):
        env[var] = str(tmp / var.lower())
    Path(env["JUPYTER_CONFIG_DIR"]).mkdir(parents=True, exist_ok=True)
    config = Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json"
    config.write_text(json.dumps(LEAN))
    return env


def _cell(kind: str, source: str, grade_id: str, **flags) -> nbformat.NotebookNode:
    meta = {"grade_id": grade_id, "schema_version": 3, "locked": False, "solution": False}
    meta |= {"grade": False, **flags}
    new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    return new(source, metadata={"nbgrader": meta})


def _nbgrader(course: Path, *args: str) -> None:
    proc = subprocess.run(
        [str(BIN / "nbgrader"), *args], cwd=course, env=_env(course.parent),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A course with one graded submission of student ``s1`` and its feedback, and the URL
    of a ``jupyter server`` with formgrader started in it (maybe not listening yet)."""
    root = tmp_path_factory.mktemp("maths") / "course"
    (root / "source" / "a1").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    solution = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    nb.cells = [
        _cell("markdown", MATHS, "maths", locked=True),
        _cell("code", solution, "f", solution=True),
        _cell("code", "assert f(2) == 4", "test_f", grade=True, points=1, locked=True),
    ]
    nbformat.write(nb, root / "source" / "a1" / "a1.ipynb")
    _nbgrader(root, "generate_assignment", "a1", "--force")
    released = nbformat.read(root / "release" / "a1" / "a1.ipynb", as_version=4)
    released.cells[1].source = "def f(x):\n    return 2 * x\n"
    (root / "submitted" / "s1" / "a1").mkdir(parents=True)
    nbformat.write(released, root / "submitted" / "s1" / "a1" / "a1.ipynb")
    _nbgrader(root, "autograde", "a1", "--force")
    port = _free_port()  # the server starts while nbgrader writes the feedback
    cmd = [str(BIN / "jupyter"), "server", "--no-browser", "--allow-root", f"--port={port}"]
    cmd += ["--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    cmd += [f"--ServerApp.base_url={BASE_URL}/"]  # as under JupyterHub
    with open(root.parent / "server.log", "wb") as log:
        server = subprocess.Popen(cmd, cwd=root, env=_env(root.parent), stdout=log, stderr=log)
    try:
        _nbgrader(root, "generate_feedback", "a1", "--force")
        yield root, f"http://127.0.0.1:{port}{BASE_URL}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _dump_dom(tmp: Path, url: str) -> str:
    """The page's DOM after Chromium ran its scripts, with every host name unresolvable."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    args = [CHROMIUM, "--headless=new", "--disable-gpu", "--no-first-run", "--disable-sync"]
    args += ["--disable-background-networking", "--disable-component-update"]
    args += [
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp / 'chromium'}",
    ]
    args += ["--no-sandbox"] if getattr(os, "geteuid", lambda: 1)() == 0 else []
    args += ["--virtual-time-budget=15000", "--dump-dom", url]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _body(dom: str) -> str:
    """The DOM without scripts, styles and MathML's TeX annotations (MathJax's sources)."""
    return re.sub(r"<(script|style|annotation)\b.*?</\1>", "", dom, flags=re.DOTALL)


def test_configure_mathjax_sets_templates_and_filter(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    c = Config()
    c.HTMLExporter.extra_template_basedirs = ["/elsewhere"]
    configure_mathjax(c)
    configure_mathjax(c)  # nbgrader reads the config file again and again
    dirs = c.HTMLExporter.extra_template_basedirs
    assert dirs[0].startswith(str(tmp_path)) and dirs[1] == "/elsewhere"
    assert dirs[2].endswith(os.path.join("formgrader", "templates")) and len(dirs) == 3
    for page in ("feedback", "formgrade"):
        macro = (Path(dirs[0]) / page / "mathjax.html.j2").read_text()
        assert f'"{page}" | {FILTER}' in macro
    assert c.HTMLExporter.filters.to_dict() == {
        "update": {FILTER: f"{mathjax_html.__module__}.mathjax_html"}
    }


@needs_mathjax
def test_mathjax_html_has_no_remote_script():
    feedback = mathjax_html("feedback")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", feedback)
    assert feedback.count("<script>") == feedback.count("</script>") > 3
    formgrade = mathjax_html("formgrade")
    assert 'src="../../../static/jupyter_server_mathjax/MathJax.js?config=' in formgrade
    assert "http" not in formgrade


# Appended to a copy of the feedback: lists, once MathJax is done, what the page fetched.
PROBE = """<script>setTimeout(function () {
  var out = document.createElement("pre");
  out.id = "fetched";
  out.textContent = JSON.stringify(performance.getEntriesByType("resource").map(function (e) {
    return e.name;
  }));
  document.body.appendChild(out);
}, 10000);</script>"""


@pytest.mark.slow
@needs_mathjax
def test_feedback_renders_maths_from_disk(course, tmp_path):
    html = (course[0] / "feedback" / "s1" / "a1" / "a1.html").read_text()
    assert not re.findall(r"""<(?:script|link)[^>]*(?:src|href)=["']?(?:https?:)?//""", html)
    end = html.rindex("</body>")
    (tmp_path / "a1.html").write_text(html[:end] + PROBE + html[end:])
    body = _body(_dump_dom(tmp_path, (tmp_path / "a1.html").as_uri()))
    assert '<pre id="fetched">[]</pre>' in body  # nothing, not even a font
    assert body.count("<math") == FORMULAS, body[-3000:]
    assert "\\frac" not in body and "merror" not in body and "Math Processing Error" not in body
    assert "\u211d" in body and "\U0001d73d" in body  # \mathbb{R}, bold θ: drawn in any browser
    assert "$5 is money" in body


def _get(url: str) -> tuple[int, str, bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.status, reply.headers.get("Content-Type", ""), reply.read(), reply.url


@pytest.mark.slow
@needs_mathjax
def test_formgrader_serves_local_mathjax(course, tmp_path):
    root, base = course
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(f"{base}/api/status?token={TOKEN}")
            break
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, (root.parent / "server.log").read_text()
            time.sleep(0.3)
    with closing(sqlite3.connect(root / "gradebook.db")) as db:
        (submission,) = db.execute("SELECT id FROM submitted_notebook").fetchone()
    status, _, page, page_url = _get(f"{base}/formgrader/submissions/{submission}/?token={TOKEN}")
    sources = re.findall(r'<script[^>]*src="([^"]*)"', page.decode())
    assert status == 200 and not [s for s in sources if re.match(r"(https?:)?//", s)]
    (mathjax,) = [s for s in sources if "MathJax.js" in s]
    script = urllib.parse.urljoin(page_url, mathjax)
    assert script.startswith(f"{base}/static/jupyter_server_mathjax/MathJax.js?")
    status, kind, code, _ = _get(script)
    assert status == 200 and "javascript" in kind and b"MathJax.Hub" in code
    font = "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff"
    assert _get(f"{base}/static/jupyter_server_mathjax/{font}")[0] == 200
    body = _body(_dump_dom(tmp_path, page_url))  # MathJax's HTML-CSS output, STIX-Web fonts
    assert body.count('class="MathJax"') == FORMULAS, body[-3000:]
    assert body.count('class="MathJax_Display"') == 1
    assert "\\frac" not in body and "MathJax_Error" not in body and "merror" not in body
