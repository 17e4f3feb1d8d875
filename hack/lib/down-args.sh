# Sourced by hack/local-down.sh and hack/node-down.sh, which take the same
# arguments and report the same way:
#
#   down_args HELP_LAST_LINE "$@"   sets purge and quiet from --purge and
#                                   --quiet; --help prints the caller's
#                                   header comment (lines 2 to HELP_LAST_LINE)
#   check_grace VAR_NAME            exits 2 unless GRACE, read from the
#                                   environment variable VAR_NAME, is a number
#   say MESSAGE / warn MESSAGE      report as PROG; say is silent under --quiet
#
# The caller sets PROG before sourcing.

purge=false
quiet=false

down_args() {
	local help_last=$1 a
	shift
	for a in "$@"; do
		case $a in
		--purge) purge=true ;;
		--quiet) quiet=true ;;
		-h | --help)
			sed -n "2,${help_last}s/^# \{0,1\}//p" "$0"
			exit 0
			;;
		*)
			printf '%s: unknown argument %s (try --help)\n' "$PROG" "$a" >&2
			exit 2
			;;
		esac
	done
}

check_grace() {
	[[ "$GRACE" =~ ^[0-9]+$ ]] || {
		printf '%s: %s must be a number\n' "$PROG" "$1" >&2
		exit 2
	}
}

say() { $quiet || printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
