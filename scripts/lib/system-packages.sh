# Installs the system programs the tests run against (a MariaDB server for the database
# plugin, Chromium and its driver for the browser tests, nginx for the HTTP client's proxy
# tests, wrk for benchmarks), from Debian's packages, when they are missing and we may.
# Sourced by scripts/test and scripts/demo.
typhoon_install_system_packages() {
    local missing=()
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
    # Headless Chromium: the browser the WebSocket interoperability test drives.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    # chromedriver: selenium drives Chromium through it in the demo's browser test.
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    # nginx: the forwarding proxy the HTTP client's proxy tests go through.
    [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    # wrk: the load generator of the rolling-restart test behind nginx (and of benchmarks).
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo="sudo -n" || {
            echo "note: cannot install ${missing[*]} (not root); tests needing them will say so" >&2
            return 0
        }
    fi
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing system packages: ${missing[*]}" >&2
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "note: no apt-get; install ${missing[*]} yourself" >&2
    fi
}
