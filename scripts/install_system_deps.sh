#!/bin/sh
# shellcheck disable=SC2086  # $missing and $apt are word lists: split on purpose
# The grader's system tools: bwrap (bubblewrap) for the sandbox, prlimit and unshare
# (util-linux, on Debian by default). Run by `make demo` and `make test`.
# With --browser, also headless Chromium and chromedriver (Debian: chromium and
# chromium-driver), which the browser tests (tests/test_browser.py) drive; they skip
# without them.
#
# Idempotent and silent when the tools are there. When one is missing, installs it
# with the system's package manager if this user can (root, or sudo without a
# password), never prompting (CI runs without stdin); otherwise prints one line and
# exits 0: the grader then refuses to grade, and the tests that need bwrap skip (the
# browser tests, without Chromium).
set -u

browser=""
case ${1:-} in
    --browser) browser=yes ;;
    "") ;;
    *)
        echo "usage: sh $0 [--browser]" >&2
        exit 2
        ;;
esac

have() { command -v "$1" >/dev/null 2>&1; }

manager=""
for m in apt-get dnf yum zypper pacman apk; do
    if have "$m"; then
        manager=$m
        break
    fi
done

# need sandbox|browser: set $missing to the packages (of $manager) that give the tools
# of the group that are not found.
need() {
    missing=""
    case $1 in
        sandbox)
            have bwrap || missing="bubblewrap"
            { have prlimit && have unshare; } || missing="$missing util-linux"
            missing=${missing# }
            ;;
        browser)
            { have chromium || have chromium-browser || have google-chrome; } &&
                have chromedriver && return
            case $manager in
                dnf | yum | zypper) missing="chromium chromedriver" ;;
                pacman) missing="chromium" ;; # chromedriver is part of it
                apk) missing="chromium chromium-chromedriver" ;;
                *) missing="chromium chromium-driver" ;; # Debian's names
            esac
            ;;
    esac
}

# Whether this user may install (root, or sudo without a password): asked once.
as_root=""
allowed=""
may_install() {
    if [ -z "$allowed" ]; then
        allowed=yes
        if [ "$(id -u 2>/dev/null || echo 1)" != 0 ]; then
            if have sudo && sudo -n true </dev/null >/dev/null 2>&1; then
                as_root="sudo -n"
            else
                allowed=no
            fi
        fi
    fi
    [ "$allowed" = yes ] && [ -n "$manager" ]
}

# ensure GROUP WHAT WITHOUT: install what `need GROUP` finds missing; WHAT: what the
# tools are for; WITHOUT: what happens until they are there (for the one line of advice).
ensure() {
    need "$1"
    [ -z "$missing" ] && return 0
    case $manager in
        apt-get) hint="sudo apt-get install $missing" ;;
        "") hint="sudo apt-get install $missing (or your distribution's equivalent)" ;;
        *) hint="sudo $manager install $missing" ;;
    esac
    if ! may_install; then
        echo "lrjax: $missing not installed and cannot be installed here (not root or no" \
            "package manager); $3 until: $hint" >&2
        return 0
    fi

    log=$(mktemp "${TMPDIR:-/tmp}/lrjax-system-deps.XXXXXX") || return 0
    echo "lrjax: installing $missing with $manager ($2)" >&2
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
    need "$1"
    if [ $status -ne 0 ] || [ -n "$missing" ]; then
        tail -n 5 "$log" >&2
        echo "lrjax: installing $wanted failed (above); $3 until: $hint" >&2
    fi
    rm -f "$log"
}
run() { $as_root "$@" </dev/null >>"$log" 2>&1; }

ensure sandbox "the grader's sandbox tools" "the grader will refuse to grade"
if [ -n "$browser" ]; then
    ensure browser "headless Chromium for the browser tests" "tests/test_browser.py skips"
fi
exit 0
