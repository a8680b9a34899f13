#!/bin/sh
# shellcheck disable=SC2086  # $missing and $apt are word lists: split on purpose
# The grader's system tools: bwrap (bubblewrap) for the sandbox, prlimit and unshare
# (util-linux, on Debian by default). Run by `make demo` and `make test`.
#
# Idempotent and silent when the tools are there. When one is missing, installs it
# with the system's package manager if this user can (root, or sudo without a
# password), never prompting (CI runs without stdin); otherwise prints one line and
# exits 0: the grader then refuses to grade, and the tests that need bwrap skip.
set -u

have() { command -v "$1" >/dev/null 2>&1; }
need() {
    missing=""
    have bwrap || missing="bubblewrap"
    { have prlimit && have unshare; } || missing="$missing util-linux"
    missing=${missing# }
}
need
[ -z "$missing" ] && exit 0

manager=""
for m in apt-get dnf yum zypper pacman apk; do
    if have "$m"; then
        manager=$m
        break
    fi
done

case $manager in
    apt-get) hint="sudo apt-get install $missing" ;;
    "") hint="sudo apt-get install $missing (or your distribution's equivalent)" ;;
    *) hint="sudo $manager install $missing" ;;
esac

as_root=""
if [ "$(id -u 2>/dev/null || echo 1)" != 0 ]; then
    if have sudo && sudo -n true </dev/null >/dev/null 2>&1; then
        as_root="sudo -n"
    else
        manager=""
    fi
fi

if [ -z "$manager" ]; then
    echo "lrjax: $missing not installed and cannot be installed here (not root or no" \
        "package manager); the grader will refuse to grade until: $hint" >&2
    exit 0
fi

log=$(mktemp "${TMPDIR:-/tmp}/lrjax-system-deps.XXXXXX") || exit 0
run() { $as_root "$@" </dev/null >>"$log" 2>&1; }

echo "lrjax: installing $missing with $manager (the grader's sandbox tools)" >&2
case $manager in
    apt-get)
        apt="env DEBIAN_FRONTEND=noninteractive apt-get -y -q"
        run $apt install --no-install-recommends $missing ||
            { run $apt update && run $apt install --no-install-recommends $missing; }
        ;;
    dnf | yum) run "$manager" install -y $missing ;;
    zypper) run zypper --non-interactive install $missing ;;
    pacman) run pacman -S --noconfirm --needed $missing ;;
    apk) run apk add --no-cache $missing ;;
esac
status=$?
wanted=$missing
need
if [ $status -ne 0 ] || [ -n "$missing" ]; then
    tail -n 5 "$log" >&2
    echo "lrjax: installing $wanted failed (above); the grader will refuse to grade" \
        "until: $hint" >&2
fi
rm -f "$log"
exit 0
