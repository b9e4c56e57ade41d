#!/usr/bin/env bash
# Installs the Debian packages the local cluster's nodes need, only those
# missing, and says in one line what the nodes run on.
set -euo pipefail
missing=()
for p in "$@"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the local cluster needs these Debian packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo ">> installing the nodes' Debian packages: ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo ">> node packages (Debian): $(dpkg-query -W -f='${Package} ${Version}, ' "$@" | sed 's/, $//')"
