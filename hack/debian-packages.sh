#!/usr/bin/env bash
# Installs the Debian packages that WHAT needs, only those missing, and
# says in one line which versions it runs on.
# Usage: debian-packages.sh WHAT PACKAGE...
set -euo pipefail
what=${1:?usage: debian-packages.sh WHAT PACKAGE...}
shift
missing=()
for p in "$@"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$what needs these Debian packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo ">> installing the Debian packages of $what: ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo ">> Debian packages of $what: $(dpkg-query -W -f='${Package} ${Version}, ' "$@" | sed 's/, $//')"
