# shellcheck shell=bash
# Debian packages the build and the tests need; sourced by tools/check and
# tools/demo. Installs only what is missing, and only as root.

GEOSTAGE_BUILD_DEPS=(
	build-essential autoconf automake pkg-config
	libssl-dev libcurl4-openssl-dev libsqlite3-dev libsystemd-dev
	libjansson-dev libevent-dev libyaml-dev libcmocka-dev
)
GEOSTAGE_TEST_DEPS=(openssl curl jq sqlite3 xxd clang procps iproute2
	debootstrap systemd-container openvpn nftables busybox socat apt-utils
	iputils-ping gnupg dpkg-dev debhelper lintian fakeroot e2fsprogs qemu-utils)

install_deps() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]} (run as root to install)" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

build_geostage() {
	[ -x configure ] && [ configure -nt configure.ac ] &&
		[ Makefile.in -nt Makefile.am ] || ./autogen.sh
	if [ ! -f config.status ] || [ "$(sed -n 's/^ac_cs_config=//p' config.status)" != "'$*'" ]; then
		./configure "$@"
	fi
	make -j"$(nproc)"
}
