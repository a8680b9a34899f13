"""Time nbgrader's autograde before and after the sandbox, and ``python -m grader autograde``.

Builds a temporary course with N honest submissions (default 20) of the course's
assignment and grades the same class four ways in the same run, checking that the
scores agree:

- before: ``LRJAX_AUTOGRADE=kernel nbgrader autograde`` -- nbgrader's own kernels,
  unsandboxed, with and without the course's shared JAX cache;
- after: ``nbgrader autograde`` with the course's config -- every submission in the
  sandbox (grader/hooks), nbgrader's scoring and gradebook;
- ``python -m grader autograde`` (bwrap), the grader's own command.

Then formgrader's Autograde button, which calls ``NbGraderAPI.autograde(assignment,
student)`` in the Jupyter server's process: pressed for --presses students one after
the other in one process, before and after (seconds per press: the first, and the
median of the others). Run it as root and as an ordinary user to compare the two setups:

    .venv/bin/python benchmarks/bench_grader.py --students 20 [--assignment m_examples]

With ``--scheduler`` it measures throughput instead (issue 16): students per minute and
per core-second of ``python -m grader autograde`` with 1, 2 and 4 sandboxes at once on
this machine and on a Dask cluster (``--scheduler tcp://HOST:8786``, or ``local``: a
scheduler and ``--cluster-workers`` workers started here), next to stock ``nbgrader
autograde`` in kernels in the same run; the bytes the grader wrote per student against
the size of what it leaves; the median seconds of a submission's parts (sandbox start,
cells, cases); and a PNG of students per minute against sandboxes at once:

    .venv/bin/python benchmarks/bench_grader.py --students 100 --scheduler local
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _grader_course import (
    ASSIGNMENT,
    gradebook_scores,
    honest_cells,
    make_course,
    nbgrader,
    submit,
)

# Formgrader's Autograde button, pressed for each student in turn in one process.
_BUTTON = """
import json, statistics, sys, time
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader
course, assignment, students = sys.argv[1], sys.argv[2], sys.argv[3:]
config = PyFileConfigLoader("nbgrader_config.py", path=course).load_config()
config.CourseDirectory.root = course
api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
times = []
for student in students:
    start = time.perf_counter()
    result = api.autograde(assignment, student)
    times.append(time.perf_counter() - start)
    assert result["success"], result.get("error", "")[-2000:]
print(json.dumps(times))
"""


def _button(course: Path, name: str, students: list[str], env=None) -> list[float]:
    """Seconds of each press of formgrader's Autograde button (see ``_BUTTON``)."""
    env = {**os.environ, **(env or {})}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-c", _BUTTON, str(course), name, *students]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=course, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


# The grader's command line, then what it cost: CPU of this process and of every process
# it waited for (the sandboxes), and the bytes it wrote (/proc/self/io).
_MEASURED = """
import json, resource, sys
from grader.__main__ import main
code = main(sys.argv[1:])
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
own, waited = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"code": code, "wchar": int(io["wchar"]), "client": own.ru_utime + own.ru_stime,
                  "cpu": sum(r.ru_utime + r.ru_stime for r in (own, waited))}), file=sys.stderr)
"""


_CGROUP = Path("/sys/fs/cgroup/cpuacct") / f"lrjax-bench-{os.getpid()}"


def _count_cpu_here() -> bool:
    """As root with cgroup v1's cpuacct: put this process (and so everything it starts,
    the zygote and the sandboxes too) in a cgroup of its own, whose counter
    :func:`_children_cpu` reads. Otherwise getrusage counts only the processes waited for
    (a zygote's children are not)."""
    try:
        _CGROUP.mkdir()
        (_CGROUP / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return False
    import atexit

    def leave():
        (_CGROUP.parent / "cgroup.procs").write_text(str(os.getpid()))
        for _ in range(100):  # the last processes of the run are gone in a moment
            try:
                _CGROUP.rmdir()
                return
            except OSError:
                time.sleep(0.1)

    atexit.register(leave)
    return True


def _children_cpu() -> float:
    """CPU seconds so far of this process's cgroup, or of the children it waited for."""
    if _CGROUP.is_dir():
        return int((_CGROUP / "cpuacct.usage").read_text()) / 1e9
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ours(course: Path, name: str, *extra) -> dict:
    """Grade ``course`` with the real CLI; seconds, CPU seconds, bytes written, phases."""
    out = course / "results.json"
    cmd = [sys.executable, "-c", _MEASURED, "autograde", name, "--course", str(course),
           "--no-progress", "--json", str(out), *extra]  # fmt: skip
    start, cpu = time.perf_counter(), _children_cpu()
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if run.returncode:
        raise SystemExit(f"{shlex.join(map(str, cmd))} failed:\n{run.stderr[-3000:]}")
    measured = json.loads(run.stderr.strip().splitlines()[-1])
    left = ("gradebook.db", "autograded", "grades")  # what the grader leaves in the course
    kept = sum(p.stat().st_size for p in course.rglob("*")
               if p.is_file() and p.parts[len(course.parts)] in left)  # fmt: skip
    kept += out.stat().st_size
    phases = [nb.get("phases", {}) for e in json.loads(out.read_text()).values()
              for nb in e["notebooks"].values()]  # fmt: skip
    median = {k: statistics.median(p[k] for p in phases if k in p) for k in phases[0]}
    return {"seconds": seconds, "cpu": cpu, "wchar": measured["wchar"], "kept": kept,
            "phases": median, "client": measured["client"]}  # fmt: skip


def _tree_cpu(pids) -> float:
    """CPU seconds of running processes and of every process below them, counted from
    /proc (user + system, their own and their waited-for children's)."""
    stats = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                stats[int(proc.name)] = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
    below = {}
    for pid, fields in stats.items():
        below.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0, list(pids)
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(f) for f in stats[pid][11:15])  # utime stime cutime cstime
            todo += below.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def _local_cluster(folder: Path, workers: int):
    """A ``dask scheduler`` and ``workers`` one-thread ``dask worker`` processes here."""
    dask = Path(sys.executable).with_name("dask")
    file = folder / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", file, "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
    while not (file.exists() and file.stat().st_size):
        time.sleep(0.1)
    procs += [subprocess.Popen([dask, "worker", "--scheduler-file", file, "--nthreads", "1",
                                "--no-dashboard", "--local-directory", folder / f"w{i}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for i in range(workers)]  # fmt: skip
    time.sleep(8)  # the workers register
    return json.loads(file.read_text())["address"], procs


def _throughput(args, name: str, n: int, tmp: Path) -> int:
    """The --scheduler mode: students per minute against sandboxes at once."""
    counted = _count_cpu_here()
    base = make_course(tmp / "base", name)
    for i in range(n):
        submit(base, f"s{i:03d}", honest_cells(name), assignment=name)
    rows, courses = [], {}

    def fresh(label):
        course = courses[label] = tmp / f"c{len(courses)}"
        shutil.copytree(base, course)
        return course

    kernel = {"LRJAX_AUTOGRADE": "kernel"}
    for label, env in (("stock `nbgrader autograde` (kernels, no JAX cache: its defaults)",
                        {**kernel, "JAX_COMPILATION_CACHE_DIR": ""}),
                       ("stock `nbgrader autograde` (kernels, the course's shared JAX cache)",
                        kernel)):  # fmt: skip
        stock = fresh(label)
        nbgrader(stock, "generate_assignment", name, env=env)
        start, cpu = time.perf_counter(), _children_cpu()
        run = nbgrader(stock, "autograde", name, env=env)
        if run.returncode:
            raise SystemExit(run.stderr[-3000:])
        stocked = {"seconds": time.perf_counter() - start, "cpu": _children_cpu() - cpu}
        rows.append((label, None, stocked))
    for jobs in args.workers:
        label = f"`python -m grader autograde --jobs {jobs}`"
        rows.append((label, jobs, _ours(fresh(label), name, "--jobs", str(jobs))))
    procs = []
    try:
        address = args.scheduler
        if address == "local":
            address, procs = _local_cluster(tmp, args.cluster_workers)
        label = f"Dask cluster ({args.cluster_workers} workers, 1 thread each)"
        if args.scheduler != "local":
            label = f"Dask cluster at {address}"
        workers = _tree_cpu(p.pid for p in procs)
        measured = _ours(fresh(label), name, "--scheduler", address)
        if not procs:  # the workers' CPU is elsewhere
            measured["cpu"] = 0.0
        elif not _CGROUP.is_dir():  # the client's and the local workers' CPU
            measured["cpu"] += _tree_cpu(p.pid for p in procs) - workers
        rows.append((label, args.cluster_workers, measured))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    found = {label: gradebook_scores(c, name) for label, c in courses.items()}
    agree = len({tuple(sorted(v.items())) for v in found.values()}) == 1
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    print(
        f"{name}, {n} honest students, as {who}, {os.cpu_count()} cores, scores agree: {agree}; "
        f"CPU from {'a cpuacct cgroup' if counted else 'getrusage (waited-for processes)'}"
    )
    stock, cached = (60 * n / rows[k][2]["seconds"] for k in (0, 1))
    print("| grader | at once | seconds | students per minute | vs stock | vs stock, cache "
          "| CPU s per student | students per core-second | bytes written per student "
          "| written / kept |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, jobs, m in rows:
        rate = 60 * n / m["seconds"]
        written = (f"{m['wchar'] / n:,.0f} | {m['wchar'] / m['kept']:.2f}" if "wchar" in m
                   else "- | -")  # fmt: skip
        cpu = f"{m['cpu'] / n:.2f} | {n / m['cpu']:.2f}" if m["cpu"] > 1 else "- | -"
        print(f"| {label} | {jobs or '-'} | {m['seconds']:.1f} | {rate:.1f} | {rate / stock:.1f}x "
              f"| {rate / cached:.1f}x | {cpu} | {written} |")  # fmt: skip
    print("\nmedian seconds of one submission's parts (from the JSON), and the client's own CPU")
    print("(reading, judging, recording: the ceiling of a cluster's throughput):")
    print("| run | sandbox start | cells | cases | client CPU s per student |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, _, m in rows[2:]:
        ph = m["phases"]
        print(f"| {label} | {ph.get('start', 0):.3f} | {ph.get('cells', 0):.3f} "
              f"| {ph.get('cases', 0):.3f} | {m['client'] / n:.3f} |")  # fmt: skip
    if args.plot:
        _plot(rows, n, Path(args.plot))
        print(f"\nplot: {args.plot}")
    return 0 if agree else 1


def _plot(rows, n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    local = [(jobs, 60 * n / m["seconds"]) for label, jobs, m in rows[2:-1]]
    ax.plot(*zip(*local, strict=True), "o-", label="python -m grader, this machine (--jobs)")
    jobs, m = rows[-1][1], rows[-1][2]
    ax.plot([jobs], [60 * n / m["seconds"]], "s", markersize=9, label=rows[-1][0])
    for (label, _, m), style in zip(rows[:2], ("--", ":"), strict=True):
        ax.axhline(60 * n / m["seconds"], color="grey", linestyle=style,
                   label=label.replace("`", ""))  # fmt: skip
    ax.set_xlabel("sandboxes at once (local jobs, or cluster workers)")
    ax.set_ylabel("students per minute")
    ax.set_xticks(sorted({j for _, j, _ in rows[2:]}))
    ax.set_ylim(bottom=0)
    ax.set_title(f"Grading throughput, {n} honest students, {os.cpu_count()} cores")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--presses", type=int, default=4, help="students for the button")
    parser.add_argument("--jobs", type=int, default=None, help="our grader's jobs (all cores)")
    parser.add_argument("--assignment", default=ASSIGNMENT, help=f"default {ASSIGNMENT}")
    parser.add_argument("--scheduler", help="throughput mode: a Dask scheduler's address, "
                        "or 'local' to start one here")  # fmt: skip
    parser.add_argument("--cluster-workers", type=int, default=2,
                        help="workers of the local cluster (default 2)")  # fmt: skip
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4], help="sandboxes at once (default 1,2,4)")  # fmt: skip
    png = Path(__file__).resolve().parents[1] / "docs" / "grader-throughput.png"
    parser.add_argument("--plot", default=str(png), help="the PNG ('' for none)")
    args = parser.parse_args()
    name, n = args.assignment, args.students
    if args.scheduler:
        with tempfile.TemporaryDirectory() as tmp:
            return _throughput(args, name, n, Path(tmp))
    kernel = {"LRJAX_AUTOGRADE": "kernel"}
    with tempfile.TemporaryDirectory() as tmp:
        base = make_course(Path(tmp) / "base", name)
        for i in range(n):
            submit(base, f"s{i:03d}", honest_cells(name), assignment=name)
        courses, times = {}, {}
        ways = (
            ("before: `nbgrader autograde` in kernels, shared JAX cache", kernel),
            ("before: `nbgrader autograde` in kernels, no JAX cache",
             {**kernel, "JAX_COMPILATION_CACHE_DIR": ""}),
            ("after: `nbgrader autograde`, sandboxed (the course's config)", {}),
        )  # fmt: skip
        for i, (label, env) in enumerate(ways):
            course = courses[label] = Path(tmp) / f"way{i}"
            shutil.copytree(base, course)
            run = nbgrader(course, "generate_assignment", name, env=env)
            if run.returncode:
                print(run.stderr[-3000:])
                return 1
            start = time.perf_counter()
            run = nbgrader(course, "autograde", name, env=env)
            times[label] = time.perf_counter() - start
            if run.returncode:
                print(run.stdout[-3000:], run.stderr[-3000:])
                return 1
        ours = courses["ours"] = Path(tmp) / "ours"
        shutil.copytree(base, ours)
        cmd = [sys.executable, "-m", "grader", "autograde", name, "--course", str(ours),
               "--no-progress"]  # fmt: skip
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times["`python -m grader autograde` (bwrap)"] = time.perf_counter() - start
        found = {label: gradebook_scores(c, name) for label, c in courses.items()}
        agree = len({tuple(sorted(v.items())) for v in found.values()}) == 1
        who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
        print(f"{name}, students: {n}, as {who}, {os.cpu_count()} cores, scores agree: {agree} "
              f"({sorted({x for v in found.values() for x in v.values()})})")  # fmt: skip
        first = next(iter(times.values()))
        print("| grader | seconds | per notebook | students per minute | vs before (cache) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, secs in times.items():
            print(f"| {label} | {secs:.1f} | {secs / n:.2f} | {60 * n / secs:.1f} "
                  f"| {first / secs:.1f}x |")  # fmt: skip
        presses = [f"s{i:03d}" for i in range(min(args.presses, n))]
        print(f"\nformgrader's Autograde button, {len(presses)} students pressed in turn "
              "(seconds per press):")  # fmt: skip
        print("| button | first press | median of the others |")
        print("| --- | ---: | ---: |")
        for label, course, env in (("before (kernels)", courses[ways[0][0]], kernel),
                                   ("after (sandbox)", courses[ways[2][0]], {})):  # fmt: skip
            secs = _button(course, name, presses, env)
            rest = statistics.median(secs[1:]) if len(secs) > 1 else float("nan")
            print(f"| {label} | {secs[0]:.1f} | {rest:.1f} |")
        return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
