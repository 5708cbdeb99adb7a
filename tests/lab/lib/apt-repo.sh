# shellcheck shell=bash
# A local, signed apt repository for the lab, served over HTTP from the
# master site (by default from namespace <run>-srv at http://192.168.10.5/).
#
#   apt_repo_build DEBDIR OUTDIR [flat]
#       OUTDIR gets the repository and its key:
#         default ("dists" layout, what PROTOCOL.md's apt_sources describe):
#           OUTDIR/debian/pool/main/*.deb
#           OUTDIR/debian/dists/stable/{Release,InRelease,Release.gpg}
#           OUTDIR/debian/dists/stable/main/binary-{amd64,all}/Packages{,.gz}
#           -> deb [signed-by=K] http://192.168.10.5/debian stable main
#         flat:
#           OUTDIR/flat/{*.deb,Packages,Packages.gz,Release,InRelease,Release.gpg}
#           -> deb [signed-by=K] http://192.168.10.5/flat ./
#       and in both cases OUTDIR/key.asc (armoured), OUTDIR/key.gpg (binary,
#       for signed-by=), OUTDIR/fingerprint (40 hex digits).
#       The signing key is a throwaway Ed25519 key made per run with
#       gpg --batch in $LAB_TMP/gnupg (never the user's keyring).
#   apt_repo_serve OUTDIR [NETNS] [ADDR] [PORT]
#       busybox httpd (package busybox, the smallest server that is
#       installable everywhere; python3 is not on a fresh machine) bound to
#       ADDR:PORT inside NETNS; stopped by PID in the cleanup.
#   apt_repo_sources_line OUTDIR [flat] [URL]
#       prints the one-line sources entry for a container
#   apt_repo_make_deb OUTDIR NAME VERSION [ARCH]
#       a tiny valid .deb (tests and the self-test use it)
#
# By hand (after lab_init and net_setup):
#   apt_repo_make_deb $LAB_TMP/debs geostage-lab-hello 1.0
#   apt_repo_build $LAB_TMP/debs $LAB_TMP/repo
#   apt_repo_serve $LAB_TMP/repo
#   ip netns exec $(net_ns srv) curl http://192.168.10.5/debian/dists/stable/InRelease

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

APT_REPO_SUITE=stable
APT_REPO_COMPONENT=main

_apt_gpg() { gpg --homedir "$LAB_TMP/gnupg" --batch --no-tty --quiet "$@"; }

_apt_repo_key() { # OUTDIR: create the run's signing key once
	local out=$1
	if [ ! -d "$LAB_TMP/gnupg" ]; then
		mkdir -m 700 "$LAB_TMP/gnupg"
		lab_on_exit "gpgconf --homedir '$LAB_TMP/gnupg' --kill all 2>/dev/null"
		_apt_gpg --pinentry-mode loopback --passphrase '' \
			--quick-gen-key "geostage lab repository (throwaway, run $LAB_RUN) <lab@geostage.invalid>" \
			ed25519 sign 1d || lab_fail "gpg key generation"
	fi
	_apt_gpg --export >"$out/key.gpg"
	_apt_gpg --armor --export >"$out/key.asc"
	_apt_gpg --with-colons --list-keys | awk -F: '$1 == "fpr" {print $10; exit}' >"$out/fingerprint"
	[ -s "$out/key.gpg" ] && [ -s "$out/fingerprint" ] || lab_fail "exporting the repo key"
}

_apt_sign() { # DIR with Release
	_apt_gpg --yes --pinentry-mode loopback --passphrase '' \
		--digest-algo SHA256 --clearsign -o "$1/InRelease" "$1/Release" &&
		_apt_gpg --yes --pinentry-mode loopback --passphrase '' \
			--digest-algo SHA256 -abs -o "$1/Release.gpg" "$1/Release" ||
		lab_fail "signing $1/Release"
}

apt_repo_build() {
	local debs=$1 out=$2 mode=${3:-dists} r
	command -v apt-ftparchive >/dev/null || lab_need_pkgs apt-utils
	command -v gpg >/dev/null || lab_need_pkgs gnupg
	mkdir -p "$out"
	_apt_repo_key "$out"
	if [ "$mode" = flat ]; then
		r=$out/flat
		mkdir -p "$r"
		cp "$debs"/*.deb "$r/" 2>/dev/null || lab_fail "no .deb in $debs"
		(cd "$r" && apt-ftparchive packages . >Packages && gzip -9nkf Packages &&
			apt-ftparchive -o APT::FTPArchive::Release::Origin=geostage-lab \
				-o APT::FTPArchive::Release::Label=geostage-lab \
				release . >Release.new && mv Release.new Release) ||
			lab_fail "apt-ftparchive (flat)"
		_apt_sign "$r"
		return 0
	fi
	r=$out/debian
	local dist=$r/dists/$APT_REPO_SUITE a
	mkdir -p "$r/pool/$APT_REPO_COMPONENT"
	cp "$debs"/*.deb "$r/pool/$APT_REPO_COMPONENT/" 2>/dev/null || lab_fail "no .deb in $debs"
	for a in amd64 all; do
		mkdir -p "$dist/$APT_REPO_COMPONENT/binary-$a"
		(cd "$r" && apt-ftparchive --arch "$a" packages "pool/$APT_REPO_COMPONENT" \
			>"dists/$APT_REPO_SUITE/$APT_REPO_COMPONENT/binary-$a/Packages") ||
			lab_fail "apt-ftparchive packages ($a)"
		gzip -9nkf "$dist/$APT_REPO_COMPONENT/binary-$a/Packages"
	done
	(cd "$dist" && apt-ftparchive \
		-o APT::FTPArchive::Release::Origin=geostage-lab \
		-o APT::FTPArchive::Release::Label=geostage-lab \
		-o APT::FTPArchive::Release::Suite="$APT_REPO_SUITE" \
		-o APT::FTPArchive::Release::Codename="$APT_REPO_SUITE" \
		-o APT::FTPArchive::Release::Architectures="amd64 all" \
		-o APT::FTPArchive::Release::Components="$APT_REPO_COMPONENT" \
		release . >../Release.tmp && mv ../Release.tmp Release) ||
		lab_fail "apt-ftparchive release"
	_apt_sign "$dist"
}

# apt_repo_serve OUTDIR [NETNS] [ADDR] [PORT]: serve OUTDIR over HTTP.
apt_repo_serve() {
	local out=$1 ns=${2:-} addr=${3:-192.168.10.5} port=${4:-80} pid
	[ -n "$ns" ] || ns=$(net_ns srv)
	command -v busybox >/dev/null || lab_need_pkgs busybox
	busybox --list | grep -x httpd >/dev/null || lab_skip "this busybox has no httpd applet"
	ip netns exec "$ns" busybox httpd -f -vv -p "$addr:$port" -h "$out" \
		>"$LAB_TMP/httpd-$ns-$port.log" 2>&1 &
	pid=$!
	lab_on_exit "lab_kill_pid $pid 3"
	lab_add_log "$LAB_TMP/httpd-$ns-$port.log"
	lab_wait 10 "busybox httpd on $addr:$port in $ns" \
		ip netns exec "$ns" curl -fsS --max-time 1 -o /dev/null "http://$addr:$port/key.asc"
	lab_log "apt repository served at http://$addr:$port/ from $ns (busybox httpd, pid $pid)"
}

# apt_repo_sources_line OUTDIR [flat|dists] [URL]
apt_repo_sources_line() {
	local out=$1 mode=${2:-dists} url=${3:-http://192.168.10.5}
	if [ "$mode" = flat ]; then
		echo "deb [signed-by=/etc/apt/keyrings/geostage-lab.gpg] $url/flat ./"
	else
		echo "deb [signed-by=/etc/apt/keyrings/geostage-lab.gpg] $url/debian $APT_REPO_SUITE $APT_REPO_COMPONENT"
	fi
}

# apt_repo_make_deb OUTDIR NAME VERSION [ARCH]: a package holding
# /usr/share/NAME/version.
apt_repo_make_deb() {
	local out=$1 name=$2 ver=$3 arch=${4:-all} b
	b=$(mktemp -d "$LAB_TMP/deb.XXXXXX")
	mkdir -p "$b/DEBIAN" "$b/usr/share/$name" "$out"
	cat >"$b/DEBIAN/control" <<-EOF
		Package: $name
		Version: $ver
		Architecture: $arch
		Maintainer: geostage lab <lab@geostage.invalid>
		Section: misc
		Priority: optional
		Description: geostage lab test package
		 Built by tests/lab/lib/apt-repo.sh for the lab's own tests.
	EOF
	echo "$name $ver" >"$b/usr/share/$name/version"
	dpkg-deb --root-owner-group -Zgzip --build "$b" "$out/${name}_${ver}_$arch.deb" >/dev/null ||
		lab_fail "dpkg-deb $name"
	rm -rf "$b"
}
