#!/usr/bin/env bash
# Install the real peers the test-suite talks to (issue: real peers, never mocks).
#
# Dovecot's IMAP server (dovecot-imapd), Tesseract with Japanese data (tesseract-ocr-jpn, the
# fallback OCR engine), a Japanese font (fonts-ipafont-gothic) to render test fax pages and web
# screenshots, and Debian's Chromium (chromium), the real browser the web tests drive through
# Playwright (a test tool's own browser download fails here).
# The tests start their own
# private instance on loopback (tests/peers/dovecot.py); the system service must NOT run, so
# this script keeps it from starting (policy-rc.d) and stops it if it was started anyway.
#
# Idempotent and quiet when everything is already installed. Not root: prints what to install
# and exits 0 (the peer tests then skip, or fail under UKETSUKE_REQUIRE_PEERS=1).
set -euo pipefail

packages=(dovecot-imapd)

missing=()
# /usr/sbin is often not on a non-root user's PATH.
if ! command -v dovecot >/dev/null 2>&1 && [[ ! -x /usr/sbin/dovecot ]]; then
    missing+=(dovecot-imapd)
fi
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr)
[[ -e /usr/share/tesseract-ocr/5/tessdata/jpn.traineddata \
    || -e /usr/share/tesseract-ocr/4.00/tessdata/jpn.traineddata ]] || missing+=(tesseract-ocr-jpn)
[[ -e /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf \
    || -e /usr/share/fonts/truetype/fonts-japanese-gothic.ttf ]] || missing+=(fonts-ipafont-gothic)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-peers: not root; install: apt-get install ${missing[*]} (peer tests will skip)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-peers: no apt-get; install Dovecot 2.3 IMAP (${packages[*]}) by hand"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive

# Keep maintainer scripts from starting the system dovecot (no systemd here, maybe).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() {
    if [[ $own_policy -eq 1 ]]; then rm -f "$policy"; fi
}
trap cleanup EXIT

# Update the lists only when apt cannot find the package yet.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 \
    || [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit) ]]; then
    apt-get update -qq >/dev/null
fi
log=$(mktemp)
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"

# Belt and braces: if a system dovecot came up anyway, stop it (no systemd needed).
if [[ -e /run/dovecot/master.pid ]]; then
    service dovecot stop >/dev/null 2>&1 || true
    doveadm stop >/dev/null 2>&1 || true
    if [[ -r /run/dovecot/master.pid ]]; then
        kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
    fi
fi
# Do not let it start on boot either, where that is possible.
if command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d dovecot disable >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi
