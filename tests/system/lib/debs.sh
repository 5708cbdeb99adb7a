# shellcheck shell=bash
# The geostage .debs for the system tests (tests/system) and the node
# image: built by `make deb` (packaging/debian, dpkg-buildpackage, lintian)
# from a copy of the working tree, never in the tree itself, and cached
# under $GEOSTAGE_TEST_CACHE/geostage-debs-<hash>, the hash covering every
# file that goes into the packages. Parallel tests wait for one build
# (_gs_cached's flock).
#
#   sys_debs                 prints the cached directory holding
#                            geostage-bootstrap_<v>_<arch>.deb and
#                            geostage-enrolld_<v>_<arch>.deb (no dbgsym)
#   sys_deb_rebuild DEB VERSION OUT
#                            DEB repacked with Version: VERSION into OUT
#                            (an upgrade to install over DEB); prints the
#                            new file's path
#
# By hand (as root, from the top of the tree):
#   bash -c '. tests/system/lib/debs.sh; lab_init; sys_debs'

# shellcheck source=../../lab/lib/geostage.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../lab/lib/geostage.sh"

SYS_DEBS_RECIPE=1

_sys_build_debs() { # OUT
	local out=$1 src=$1/src
	mkdir "$src"
	lab_log "building the geostage .debs (make deb) in $out"
	tar -C "$GS_TOP" --exclude=./.git --exclude=./autom4te.cache \
		--exclude='*.o' --exclude='*.a' --exclude='*.log' --exclude='*.trs' \
		--exclude='*.deb' --exclude='*.tar.gz' -cf - . | tar -C "$src" -xf - || return 1
	(
		cd "$src" || exit 1
		[ -f Makefile ] && make distclean
		[ -x configure ] || ./autogen.sh
		# Not the MAKEFLAGS of a "make check" this test may run under:
		# they carry its TEST_LOGS into the package's own make check.
		unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
		./configure --disable-dependency-tracking && make deb
	) >"$out/build.log" 2>&1 || {
		tail -n 40 "$out/build.log" >&2
		return 1
	}
	local d
	for d in "$src"/geostage-bootstrap_*.deb "$src"/geostage-enrolld_*.deb; do
		[ -f "$d" ] || {
			echo "make deb made no $d" >&2
			return 1
		}
		cp "$d" "$out/"
	done
	rm -rf --one-file-system "$src"
}

# sys_debs: prints the cached directory of the two .debs.
sys_debs() {
	local key files
	lab_need_pkgs dpkg-dev debhelper lintian
	mapfile -t files < <(cd "$GS_TOP" && git ls-files 2>/dev/null |
		grep -E '^(lib|bootstrap-server|enrolld|units|man|packaging/debian)/|^(configure\.ac|Makefile\.am|autogen\.sh)$|\.am$' |
		sed "s|^|$GS_TOP/|")
	if [ ${#files[@]} -eq 0 ]; then
		# Not a git checkout (a release tarball): every file of those dirs.
		mapfile -t files < <(cd "$GS_TOP" && find lib bootstrap-server enrolld units man \
			packaging/debian configure.ac Makefile.am autogen.sh -type f \
			! -name '*.o' ! -name '*.a' 2>/dev/null | sort | sed "s|^|$GS_TOP/|")
	fi
	key=$(_gs_hash "recipe=$SYS_DEBS_RECIPE" "${files[@]}")
	_gs_cached "$GEOSTAGE_TEST_CACHE/geostage-debs-$key" _sys_build_debs
}

# sys_deb_rebuild DEB VERSION OUT: DEB with its version changed.
sys_deb_rebuild() {
	local deb=$1 ver=$2 out=$3 t name arch
	t=$(mktemp -d "$LAB_TMP/rebuild.XXXXXX")
	dpkg-deb -R "$deb" "$t/pkg" || lab_fail "dpkg-deb -R $deb"
	sed -i "s/^Version: .*/Version: $ver/" "$t/pkg/DEBIAN/control"
	name=$(dpkg-deb -f "$deb" Package)
	arch=$(dpkg-deb -f "$deb" Architecture)
	mkdir -p "$out"
	dpkg-deb --root-owner-group -b "$t/pkg" "$out/${name}_${ver}_$arch.deb" >/dev/null ||
		lab_fail "dpkg-deb -b $name $ver"
	rm -rf "$t"
	echo "$out/${name}_${ver}_$arch.deb"
}
