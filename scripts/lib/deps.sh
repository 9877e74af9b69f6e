# shellcheck shell=bash
# shellcheck disable=SC2034 # the arrays are used by the scripts that source this file
# Debian packages sshgate needs, and a function that installs the missing
# ones (as root) or prints the exact command to run (otherwise).

SSHGATE_BUILD_PACKAGES=(build-essential cmake pkg-config libssh-dev
    libsqlite3-dev libssl-dev libjansson-dev libmicrohttpd-dev libpq-dev
    libcurl4-openssl-dev)
# The libraries of the -dev packages above, as the binaries need them at
# run time: what the Docker image's runtime stage installs. A library added
# above goes here too (libpq-dev: libpq5; libmicrohttpd-dev:
# libmicrohttpd12; libcurl4-openssl-dev: libcurl4); the image's build then fails at once if one is missing.
SSHGATE_RUNTIME_PACKAGES=(libssh-4 libsqlite3-0 libssl3 libjansson4
    libmicrohttpd12 libpq5 libcurl4)
SSHGATE_TEST_PACKAGES=(libcmocka-dev openssh-client openssh-server python3
    sqlite3 ssh-audit rsync procps shellcheck asciinema python3-paramiko
    curl prometheus postgresql-15 dante-server tinyproxy microsocks)
# scripts/fuzz: libFuzzer needs clang and its runtime (a recommends of clang)
SSHGATE_FUZZ_PACKAGES=(clang libclang-rt-14-dev)
# scripts/check-format: the style of .clang-format
SSHGATE_LINT_PACKAGES=(clang-format git)
SSHGATE_RUN_PACKAGES=(openssh-client sqlite3)
# The Docker image's build stage: the build, and the unit tests it runs
# (cmocka; CMake wants python3 for the test tree).
SSHGATE_IMAGE_BUILD_PACKAGES=("${SSHGATE_BUILD_PACKAGES[@]}" libcmocka-dev
    python3)
# scripts/docker-test: mmdebstrap makes the base image where no registry
# can be reached; the stock client logs in; python3 reads docker's JSON.
SSHGATE_DOCKER_PACKAGES=(mmdebstrap openssh-client python3)
# bench/run: real OpenSSH on both ends, gnuplot for the plots
SSHGATE_BENCH_PACKAGES=(openssh-client openssh-server python3 procps
    gnuplot-nox)

# ensure_packages PKG...: install whatever of PKG... is missing.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
            grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "sshgate needs these Debian packages; run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Another apt or dpkg at work (a second job on the machine,
    # unattended-upgrades) is waited for instead of failing at once.
    apt-get -o DPkg::Lock::Timeout=600 update -q >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}" >&2
}
