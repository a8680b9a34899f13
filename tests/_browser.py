"""A real browser for the end-to-end tests: headless Chromium driven by Selenium, and the
JupyterLab server it talks to, started and always stopped by the test.

Nothing here needs a display or the network. The server listens on 127.0.0.1, on a port
picked at runtime, with a random token; its Jupyter and JupyterLab settings live in a
folder of the test's (news and update checks off, every notebook cell kept in the DOM).
The page objects (:class:`Notebook`, :class:`Formgrader`, :class:`Feedback`) hold the
DOM selectors, so that the tests read as what a student or an instructor does.
"""

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

try:  # without selenium the browser tests skip (missing() says why): nothing here runs
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

SIZE = (1400, 1000)  # the page's size in CSS pixels: the screenshots' size
WAIT = 60  # seconds: the bound of a page load or of a UI reaction
RUN = 240  # seconds: the bound of a kernel run or of an autograde
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SCREENSHOTS = "LRJAX_SCREENSHOTS"  # a folder: screenshots are also copied there


def chromium() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def missing() -> str | None:
    """Why a browser test cannot run here (a skip reason), or None when it can."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (it is in the dev extra: pip install -e '.[dev]')"
    install = "sh scripts/install_system_deps.sh --browser installs it"
    if chromium() is None:
        return f"Chromium is not installed ({install})"
    if shutil.which("chromedriver") is None:
        return f"chromedriver is not installed ({install})"
    if importlib.util.find_spec("jupyterlab") is None:
        return "JupyterLab is not installed (nbgrader, in the dev extra, brings it)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(folder: Path, extension: str, plugin: str, values: dict) -> None:
    path = folder / "lab" / "user-settings" / extension / f"{plugin}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values), encoding="utf-8")


class JupyterLab:
    """A JupyterLab server of this environment, serving ``root``, run from ``root`` (so
    that nbgrader's formgrader reads the ``nbgrader_config.py`` there).

    Its Jupyter config, data, runtime and IPython folders are under ``home``; its log is
    ``home/server.log``. Kernels start with this environment's ``python`` (first on
    PATH, the one the ``python3`` kernelspec names), on the CPU (``JAX_PLATFORMS=cpu``).
    Use it as a context manager: the server, and the kernels it started, stop on exit.
    """

    def __init__(self, root: Path, home: Path):
        self.root = Path(root)
        self.home = Path(home)
        self.token = secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.home / "server.log"
        self.proc: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        """The server's environment: this venv first on PATH, every Jupyter folder in
        ``home`` (no user settings, kernels or extensions leak in), JAX on the CPU."""
        config = self.home / "config"
        _settings(
            config,
            "@jupyterlab/apputils-extension",
            "notification",
            {"fetchNews": "false", "checkForUpdates": False},
        )
        _settings(config, "@jupyterlab/notebook-extension", "tracker", {"windowingMode": "none"})
        (config / "nbgrader_config.py").write_text(
            f"c.Exchange.root = {str(self.home / 'exchange')!r}\n", encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        env.update(
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            IPYTHONDIR=str(self.home / "ipython"),
            JAX_PLATFORMS="cpu",
            PYTHONUNBUFFERED="1",
        )
        return env

    def command(self) -> list[str]:
        """``python -m jupyter lab`` on 127.0.0.1:port only, with the token, no browser."""
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--ServerApp.token={self.token}",
            "--ServerApp.ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def start(self, timeout: float = WAIT) -> "JupyterLab":
        """Start the server and wait until its API answers (at most ``timeout`` s).

        Raises:
            RuntimeError: the server exited or did not answer in time (its log attached).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.root,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"JupyterLab did not answer within {timeout} s:\n{self.log_tail()}"
                )
            time.sleep(0.2)
        return self

    def ready(self) -> bool:
        """Whether the server answers ``/api/status`` with the token."""
        request = urllib.request.Request(
            f"{self.url}/api/status", headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, timeout: float = 20) -> None:
        """Stop the server (SIGTERM: it shuts its kernels down); after ``timeout`` s, kill
        the process group it leads (its kernels, which watch it, then exit by themselves)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def login(self, path: str = "") -> str:
        """The URL of ``path`` carrying the token (the first page sets the login cookie)."""
        return f"{self.url}/{path.lstrip('/')}?token={self.token}"

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, kind, error, trace) -> None:
        self.stop()
        if error is not None:  # pytest shows this with the failure
            print(f"--- the end of JupyterLab's log, {self.log} ---\n{self.log_tail()}")


def chrome(log: Path):
    """Headless Chromium, its page ``SIZE`` CSS pixels; quit it when done.

    As root Chromium runs without its own sandbox (it refuses to start otherwise).
    """
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for arg in (
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={SIZE[0]},{SIZE[1]}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    service = Service(executable_path=shutil.which("chromedriver"), log_output=str(log))
    driver = webdriver.Chrome(service=service, options=options)
    try:  # the window's size includes its (invisible) frame: fix the page's own size
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": SIZE[0], "height": SIZE[1], "deviceScaleFactor": 1, "mobile": False},
        )
        driver.set_page_load_timeout(WAIT)
    except Exception:
        driver.quit()
        raise
    return driver


@contextmanager
def browser(folder: Path):
    """Chromium (:func:`chrome`) and :class:`Screenshots` into ``folder``; on an error,
    the page as it was is saved as ``error.png`` there. Chromium quits in any case."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    driver = chrome(folder / "chromedriver.log")
    try:
        yield driver, Screenshots(driver, folder)
    except BaseException:
        shot = folder / "error.png"
        try:
            saved = driver.save_screenshot(str(shot))
        except Exception:  # the browser may be what failed: keep the first error
            saved = False
        if saved:
            print(f"--- the page at the error: {driver.current_url}, {shot} ---")
        raise
    finally:
        driver.quit()


class Screenshots:
    """PNGs of the page, written to ``folder``; when ``$LRJAX_SCREENSHOTS`` names a folder,
    copied there too (``LRJAX_SCREENSHOTS=docs/img`` refreshes the documentation's)."""

    def __init__(self, driver, folder: Path):
        self.driver = driver
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        extra = os.environ.get(SCREENSHOTS)
        self.extra = Path(extra) if extra else None

    def take(self, name: str) -> Path:
        """Save the page as ``name``.png; return the path under ``folder``."""
        path = self.folder / f"{name}.png"
        if not self.driver.save_screenshot(str(path)):
            raise RuntimeError(f"Chromium could not take the screenshot {name}")
        if self.extra is not None:
            self.extra.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.extra / path.name)
        return path


def wait(driver, condition, timeout: float = WAIT, what: str = ""):
    """``WebDriverWait(driver, timeout).until(condition)``, saying what it waited for."""
    waiter = WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])
    return waiter.until(condition, f"after {timeout} s: {what}")


def scroll_to(driver, element, block: str = "start") -> None:
    """Scroll the page (or the scrolled panel holding ``element``) to show it."""
    driver.execute_script("arguments[0].scrollIntoView({block: arguments[1]});", element, block)


_PROMPT = re.compile(r"\[(\d+)\]:")


class Notebook:
    """A notebook open in JupyterLab, as a student sees it.

    Cells are addressed by their index in the notebook file: JupyterLab renders them in
    that order, every one of them (the test's settings turn off windowing, which would
    otherwise drop the cells that are out of view from the DOM).
    """

    CELL = ".jp-NotebookPanel .jp-Notebook .jp-Cell"

    def __init__(self, driver):
        self.driver = driver

    def open(self, lab: JupyterLab, path: str, cells: int) -> "Notebook":
        """Open ``path`` (relative to the server's root), wait until its ``cells`` cells
        are shown and its kernel is idle."""
        self.driver.get(lab.login(f"lab/tree/{path}"))
        wait(self.driver, lambda _: len(self.cells()) == cells, what=f"{cells} cells of {path}")
        wait(self.driver, lambda _: self.idle(), RUN, "the kernel to start")
        return self

    def cells(self) -> list:
        """The cells' elements, in notebook order."""
        return self.driver.find_elements(By.CSS_SELECTOR, self.CELL)

    def cell(self, index: int):
        """The element of cell ``index``."""
        return self.cells()[index]

    def _find(self, index: int, css: str):
        return self.cell(index).find_element(By.CSS_SELECTOR, css)

    def source(self, index: int) -> str:
        """The text in cell ``index``'s editor, as shown."""
        return self._find(index, ".cm-content").text

    def prompt(self, index: int) -> str:
        """Cell ``index``'s input prompt: ``[ ]:`` not run, ``[*]:`` running, ``[7]:`` ran."""
        return self._find(index, ".jp-InputPrompt").text.strip()

    def output(self, index: int) -> str:
        """The text of cell ``index``'s output area, as shown."""
        return self._find(index, ".jp-OutputArea").text

    def output_kinds(self, index: int) -> list[str]:
        """The MIME type of each output of cell ``index`` (errors and stderr:
        ``application/vnd.jupyter.stderr``)."""
        outputs = self.cell(index).find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")
        return [out.get_attribute("data-mime-type") for out in outputs]

    def idle(self) -> bool:
        """The kernel is idle and no cell is queued or running."""
        found = self.driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator")
        if not found or found[0].get_attribute("data-status") != "idle":
            return False
        prompts = self.driver.find_elements(By.CSS_SELECTOR, f"{self.CELL} .jp-InputPrompt")
        return all(p.text.strip() != "[*]:" for p in prompts)

    def type(self, index: int, lines: list[str]) -> str:
        """Click into cell ``index``'s editor, select all and type ``lines`` over it, Enter
        after each but the last, as a person does (so the editor indents the line after a
        colon itself); return the editor's text."""
        editor = self._find(index, ".cm-content")
        scroll_to(self.driver, editor, "center")
        editor.click()  # edit mode, so that Ctrl+A selects the editor's text, not all cells
        frame = self._find(index, ".cm-editor")
        wait(
            self.driver,
            lambda _: "cm-focused" in frame.get_attribute("class").split(),
            what=f"the editor of cell {index} to have the focus",
        )
        chain = ActionChains(self.driver)
        chain.key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL)
        for number, line in enumerate(lines):
            if number:
                chain.send_keys(Keys.ENTER)
            chain.send_keys(line)
        chain.perform()
        return self.source(index)

    def shift_enter(self, times: int = 1) -> None:
        """Shift+Enter ``times``: run the current cell and go to the next, each time."""
        chain = ActionChains(self.driver).key_down(Keys.SHIFT)
        for _ in range(times):
            chain.send_keys(Keys.ENTER)
        chain.key_up(Keys.SHIFT).perform()

    def menu(self, menu: str, item: str) -> None:
        """Choose ``menu`` > ``item`` in JupyterLab's menu bar."""
        bar = f"//div[contains(@class, 'lm-MenuBar-itemLabel') and normalize-space()='{menu}']"
        entry = (
            f"//ul[contains(@class, 'lm-Menu-content')]//div[contains(@class, "
            f"'lm-Menu-itemLabel') and normalize-space()='{item}']"
        )
        wait(self.driver, ec.element_to_be_clickable((By.XPATH, bar)), what=menu).click()
        wait(self.driver, ec.element_to_be_clickable((By.XPATH, entry)), what=item).click()

    def ran(self, index: int, before: str, timeout: float = RUN) -> str:
        """Wait until cell ``index`` ran again (its prompt shows a new count, not
        ``before``) and the kernel is idle; return the new prompt."""

        def done(_):
            now = self.prompt(index)
            return now if _PROMPT.fullmatch(now) and now != before and self.idle() else False

        return wait(self.driver, done, timeout, f"cell {index} to run (it showed {before})")

    def save(self, path: Path, expected: str) -> None:
        """Ctrl+S, then wait until the file at ``path`` holds ``expected``."""
        chain = ActionChains(self.driver).key_down(Keys.CONTROL).send_keys("s")
        chain.key_up(Keys.CONTROL).perform()
        wait(
            self.driver,
            lambda _: expected in path.read_text(encoding="utf-8"),
            what=f"{path.name} saved with {expected!r}",
        )


class Formgrader:
    """nbgrader's formgrader (``/formgrader``) of the course the server runs in."""

    ROWS = "//tbody[@id='main-table']/tr"

    def __init__(self, driver, lab: JupyterLab):
        self.driver = driver
        self.lab = lab

    def submissions(self, assignment: str) -> "Formgrader":
        """Open formgrader, then the assignment's "Manage Submissions" page (the link
        that counts its submissions)."""
        self.driver.get(self.lab.login("formgrader"))
        link = (
            f"{self.ROWS}[td[contains(@class, 'name') and @data-order='{assignment}']]"
            "/td[contains(@class, 'num-submissions')]/a"
        )
        wait(self.driver, ec.element_to_be_clickable((By.XPATH, link)), what=link).click()
        autograde = (By.CSS_SELECTOR, "#main-table td.autograde a")
        wait(self.driver, ec.presence_of_element_located(autograde), what="the submissions")
        return self

    def row(self, student: str):
        """The table row of ``student``."""
        student_id = f"td[contains(@class, 'student-id') and normalize-space()='{student}']"
        return self.driver.find_element(By.XPATH, f"{self.ROWS}[{student_id}]")

    def cell(self, student: str, column: str):
        """The ``column`` (``score``, ``status``, ``autograde``...) cell of ``student``."""
        return self.row(student).find_element(By.CSS_SELECTOR, f"td.{column}")

    def _modal(self):
        shown = [
            m for m in self.driver.find_elements(By.CSS_SELECTOR, ".modal") if m.is_displayed()
        ]
        return shown[0] if shown else None

    def press(self, student: str, column: str, timeout: float = RUN) -> tuple[str, str]:
        """Press the button in ``column`` (``autograde``, ``generate-feedback``) of
        ``student``'s row, wait for formgrader's answer and close it.

        Returns:
            The answer's id (``success-modal`` or ``error-modal``) and its text.
        """
        self.cell(student, column).find_element(By.TAG_NAME, "a").click()
        modal = wait(self.driver, lambda _: self._modal(), timeout, f"{column} of {student}")
        answer = (modal.get_attribute("id"), modal.text)
        modal.find_element(By.CSS_SELECTOR, ".modal-footer button").click()
        wait(self.driver, lambda _: self._modal() is None, what="the answer to close")
        wait(
            self.driver,
            lambda _: self.cell(student, "student-id").text.strip() == student,
            what=f"{student}'s row to show again",
        )
        return answer


class Feedback:
    """An nbgrader feedback page (``feedback/<student>/<assignment>/<notebook>.html``),
    opened from its file as the student who gets it does."""

    def __init__(self, driver):
        self.driver = driver

    def open(self, path: Path) -> "Feedback":
        """Open the feedback file at ``path``."""
        self.driver.get(Path(path).resolve().as_uri())
        wait(self.driver, ec.presence_of_element_located((By.ID, "toc")), what="the feedback")
        return self

    def title(self) -> str:
        """The heading: the notebook and its total, ``gradient_descent (Score: 7.0 / 10.0)``."""
        return self.driver.find_element(By.CSS_SELECTOR, ".panel-heading h4").text

    def summary(self, grade_id: str) -> str:
        """The table of contents' line of a graded cell: ``Test cell (Score: 0.0 / 3.0)``."""
        return self.driver.find_element(By.XPATH, f"//li[a[@href='#{grade_id}']]").text

    def cell(self, grade_id: str):
        """The element of the graded cell ``grade_id`` (its input and its outputs)."""
        anchor = f"//a[@name='{grade_id}']/ancestor::div[contains(@class, 'code_cell')][1]"
        return self.driver.find_element(By.XPATH, anchor)

    def output(self, grade_id: str) -> str:
        """The text of the outputs of the graded cell ``grade_id``, as shown."""
        return self.cell(grade_id).find_element(By.CSS_SELECTOR, ".output_wrapper").text
