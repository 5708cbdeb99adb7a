#!/bin/sh
# Lab wrapper for the crash test (lib/geostage.sh, gs_phase_crash): the
# crash node's enrolld.conf points a program of the agent here (installed
# as /usr/local/lib/geostage-lab/hold/PROGRAM). While
# /run/geostage-lab/hold-before-PROGRAM exists, the next run of PROGRAM
# first announces itself (/run/geostage-lab/held-before-PROGRAM) and
# sleeps, so that the test can kill -9 the agent at a known point inside a
# step that is otherwise over in milliseconds. Otherwise, and after the
# hold, it is the real program.
set -u
prog=$(basename "$0")
case $prog in
sysctl) real=/sbin/sysctl ;;
systemctl) real=/bin/systemctl ;;
ip) real=/sbin/ip ;;
*)
	echo "hold-wrapper: unknown program $prog" >&2
	exit 127
	;;
esac
if [ -e "/run/geostage-lab/hold-before-$prog" ]; then
	rm -f "/run/geostage-lab/hold-before-$prog"
	: >"/run/geostage-lab/held-before-$prog"
	sleep 300
fi
exec "$real" "$@"
