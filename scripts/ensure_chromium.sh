#!/bin/sh
# make test: the browser tests drive Debian's chromium (CHROMIUM_PATH, default
# /usr/bin/chromium). Install it through apt-get when it is missing and that is
# possible (root, or sudo without a password); otherwise stop before the test
# run with one line that says what to install.
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0

as_root=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        as_root="sudo -n"
    else
        as_root="none"
    fi
fi
if [ "$as_root" != none ] && command -v apt-get >/dev/null 2>&1; then
    echo "make test: installing Debian's chromium for the browser tests (apt-get)" >&2
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1
    [ -x "$chromium" ] && exit 0
fi
echo "make test needs Chromium at $chromium for the browser tests: install Debian's 'chromium' package (sudo apt-get install chromium) or set CHROMIUM_PATH" >&2
exit 1
