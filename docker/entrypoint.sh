#!/bin/sh
# sshgate's container entrypoint (installed as docker-entrypoint.sh).
#
# Every start:
#   1. the data directory (SSHGATE_DATA_DIR, default /var/lib/sshgate) is
#      created if needed and made private (0700);
#   2. `sshgate-admin init` creates the database and the gateway's keys on
#      the first start, and does nothing on later ones (it never replaces a
#      key); the database is made 0600;
#   3. the daemon's configuration is generated from the mounted file
#      SSHGATE_CONFIG (optional) and SSHGATE_<KEY> variables, one for each
#      setting of docs/configuration.md (SSHGATE_MAX_CONNECTIONS=200 sets
#      max_connections); a variable replaces the file's line for that key;
#   4. `sshgated --check-config` vets it: a bad value is reported as one
#      line naming the variable (or the file and line), and the container
#      stops before the daemon starts;
#   5. SSHGATE_ADMIN_USER with SSHGATE_ADMIN_KEY (OpenSSH public key lines)
#      creates that admin user, only if no user of that name exists yet;
#   6. SSHGATE_BACKEND_PUBKEY_FILE, if set, receives the gateway's backend
#      identity public key (for the backends' authorized_keys);
#   7. exec sshgated -f GENERATED --foreground, so that the daemon is PID 1,
#      logs to stderr and gets `docker stop`'s SIGTERM (it then lets open
#      sessions finish for shutdown_grace seconds).
#
# Arguments starting with "-" are passed to sshgated (`--log-level debug`);
# any other command is run instead (`sshgate-admin --help`, `sh`).
# Variables named SSHGATE_* that are neither settings nor the ones above
# are ignored with a warning: orchestrators add such variables on their own
# (Kubernetes sets SSHGATE_PORT for a service named sshgate). A setting's
# variable set to "" sets the empty value (allowed_clients, proxy_trusted,
# banner and env_allow take it; other settings refuse it); the script's own variables
# count as not set when empty.
#
# SSHGATED_BIN and SSHGATE_ADMIN_BIN override the binaries (tests run this
# script outside a container against a build tree).
set -eu
umask 077

prog=docker-entrypoint.sh
SSHGATED_BIN=${SSHGATED_BIN:-sshgated}
SSHGATE_ADMIN_BIN=${SSHGATE_ADMIN_BIN:-sshgate-admin}

# sshgated's settings, as in docs/configuration.md (a test keeps them equal).
KEYS="listen db node_name node_lost_after backlog max_connections max_unauth_connections
max_unauth_per_source max_startups source_prefix_v4 source_prefix_v6
source_penalty source_penalty_max allowed_clients blocked_clients
proxy_protocol proxy_trusted refusal_summary_interval version_timeout login_grace_time
idle_timeout keepalive_interval keepalive_count_max max_auth_attempts
auth_methods lockout_threshold lockout_time lockout_scope
source_lockout_threshold auth_failure_delay banner kex ciphers macs
hostkey_algorithms pubkey_accepted_algorithms compression rekey_limit rekey_time
target_separator recording record_input recording_queue_size audit_failure
audit_failure_grace audit_spool audit_spool_size audit_queue_size event_export
export_queue_size log_level
server_version shutdown_grace worker_stack_size backend_connect_timeout
backend_proxy backend_proxy_bypass max_jump_depth
env_allow max_channels_per_connection relay_buffer_size channel_window
channel_window_budget rate_limit rate_limit_burst run_as_user metrics_listen"

# This script's own variables.
OWN_VARS="SSHGATE_CONFIG SSHGATE_DATA_DIR SSHGATE_ADMIN_USER SSHGATE_ADMIN_KEY
SSHGATE_ADMIN_BIN SSHGATE_BACKEND_PUBKEY_FILE"

nl='
'

say() {
    printf '%s: %s\n' "$prog" "$*" >&2
}

die() {
    say "$*"
    exit 1
}

# Whether the variable named $1 is set (maybe to "").
is_set() {
    eval "[ \"\${$1+set}\" = set ]"
}

# The value of the variable named $1 ("" when unset).
value_of() {
    eval "printf '%s' \"\${$1-}\""
}

upper() {
    printf '%s' "$1" | tr '[:lower:]' '[:upper:]'
}

# The value of key $1 in config file $2 (empty when the file has none).
file_value() {
    awk -v key="$1" '
        {
            line = $0
            sub(/^[ \t]+/, "", line)
            if (substr(line, 1, length(key)) != key) next
            rest = substr(line, length(key) + 1)
            if (rest !~ /^[ \t]*=/) next
            sub(/^[ \t]*=[ \t]*/, "", rest)
            sub(/[ \t\r]+$/, "", rest)
            value = rest
        }
        END { printf "%s", value }' "$2"
}

# Warn about SSHGATE_* variables that mean nothing here.
warn_unknown_vars() {
    known=" $(printf '%s' "$OWN_VARS" | tr '\n' ' ') "
    for key in $KEYS; do
        known="$known SSHGATE_$(upper "$key") "
    done
    env | sed -n 's/^\(SSHGATE_[A-Za-z0-9_]*\)=.*/\1/p' | sort -u |
        while read -r name; do
            case "$known" in
            *" $name "*) ;;
            *) say "warning: ignoring $name: not a setting of sshgated (docs/configuration.md) nor a variable of this script" ;;
            esac
        done
}

prepare_data_dir() {
    if ! mkdir -p "$data_dir" 2>/dev/null; then
        die "cannot create the data directory $data_dir (uid $(id -u))"
    fi
    if [ ! -w "$data_dir" ] || ! chmod 700 "$data_dir" 2>/dev/null; then
        die "the data directory $data_dir must be owned and writable by uid $(id -u); on the host: chown -R $(id -u):$(id -g) DIR (a named volume gets this right by itself)"
    fi
}

# Create the database and keys (first start) or check them (later starts).
init_db() {
    case "$db" in
    *://* | *=*)
        # a database server (docs/cluster.md): nothing here is a file,
        # and its URI may hold a password not to print; init creates the
        # schema and the keys once for every node, and does nothing later
        ;;
    *)
        if [ ! -e "$db" ]; then
            say "first start: creating $db and the gateway's keys"
        fi
        ;;
    esac
    if ! out=$("$SSHGATE_ADMIN_BIN" --db "$db" init 2>&1); then
        die "${out#sshgate-admin: }"
    fi
    printf '%s\n' "$out"
    for f in "$db" "$db-wal" "$db-shm"; do
        if [ -e "$f" ]; then
            chmod 600 "$f"
        fi
    done
}

# Write the daemon's configuration to $gen: the base file's lines (those
# of keys set by variables commented out, so line numbers stay those of
# the base file), then one line per variable. $origins lists the variables
# in the order of their lines, for error messages.
generate_config() {
    overrides=""
    lines=""
    origins=""
    for key in $KEYS; do
        var=SSHGATE_$(upper "$key")
        if [ "$key" = db ]; then
            [ -n "$db_override" ] || continue
            value=$db_override
        else
            is_set "$var" || continue
            value=$(value_of "$var")
        fi
        case "$value" in
        *"$nl"*) die "$var must be a single line" ;;
        esac
        overrides="$overrides $key"
        lines="$lines$key = $value$nl"
        origins="$origins $var"
    done
    base_lines=0
    {
        if [ -n "$base" ]; then
            awk -v keys="$overrides" '
                BEGIN { n = split(keys, k, " ") }
                {
                    line = $0
                    sub(/^[ \t]+/, "", line)
                    for (i = 1; i <= n; i++) {
                        rest = substr(line, length(k[i]) + 1)
                        if (substr(line, 1, length(k[i])) == k[i] &&
                            rest ~ /^[ \t]*=/) {
                            $0 = "# replaced by an SSHGATE_ variable: " $0
                            break
                        }
                    }
                    print
                }' "$base"
        fi
        printf '%s' "$lines"
        printf '# Generated by %s at each start of the container from\n' "$prog"
        printf '# SSHGATE_CONFIG (%s) and SSHGATE_* variables; edits are lost.\n' \
            "${base:-not set}"
    } >"$gen"
    if [ -n "$base" ]; then
        base_lines=$(awk 'END { print NR }' "$base")
    fi
}

# Run sshgated --check-config; report its findings in terms of the
# variables and the base file.
check_config() {
    if errs=$("$SSHGATED_BIN" -f "$gen" --check-config "$@" 2>&1 >/dev/null); then
        return 0
    fi
    printf '%s\n' "$errs" | awk -v gen="$gen:" -v base="$base" \
        -v nb="$base_lines" -v origins="$origins" -v prog="$prog" '
        BEGIN { n = split(origins, o, " ") }
        index($0, gen) == 1 {
            rest = substr($0, length(gen) + 1)
            line = rest + 0
            msg = substr(rest, index(rest, ":") + 2)
            if (line <= nb) {
                print prog ": " base ":" line ": " msg
            } else if (line - nb <= n) {
                print prog ": " o[line - nb] ": " msg
            } else {
                print prog ": " msg
            }
            next
        }
        { print prog ": " $0 }' >&2
    die "configuration refused; sshgated not started"
}

bootstrap_admin() {
    user=${SSHGATE_ADMIN_USER-}
    key=${SSHGATE_ADMIN_KEY-}
    if [ -z "$user" ] && [ -z "$key" ]; then
        return 0
    fi
    if [ -z "$user" ] || [ -z "$key" ]; then
        die "SSHGATE_ADMIN_USER and SSHGATE_ADMIN_KEY go together: give both or neither"
    fi
    if out=$("$SSHGATE_ADMIN_BIN" --db "$db" user show "$user" 2>&1 >/dev/null); then
        say "admin user '$user' exists already; SSHGATE_ADMIN_KEY not applied"
        return 0
    fi
    case "$out" in
    *"unknown user"*) ;;
    *) die "SSHGATE_ADMIN_USER: ${out#sshgate-admin: }" ;;
    esac
    if ! out=$(printf '%s\n' "$key" |
        "$SSHGATE_ADMIN_BIN" --db "$db" user add "$user" --admin --key - 2>&1 >/dev/null); then
        out=${out#sshgate-admin: }
        case "$out" in
        "user name"*) die "SSHGATE_ADMIN_USER: $out" ;;
        *) die "SSHGATE_ADMIN_KEY: ${out#stdin }" ;;
        esac
    fi
    say "created admin user '$user'"
}

export_backend_key() {
    file=${SSHGATE_BACKEND_PUBKEY_FILE-}
    if [ -z "$file" ]; then
        return 0
    fi
    line=$("$SSHGATE_ADMIN_BIN" --db "$db" keys show |
        awk 'found && NF { print; exit } /^backend identity key/ { found = 1 }')
    if [ -z "$line" ]; then
        die "no backend identity key in $db"
    fi
    if ! (umask 022 && printf '%s\n' "$line" >"$file.tmp" &&
        mv -f "$file.tmp" "$file") 2>/dev/null; then
        die "SSHGATE_BACKEND_PUBKEY_FILE: cannot write $file"
    fi
}

case "${1-}" in
"" | -*) ;;
*) exec "$@" ;;
esac

trap 'exit 143' TERM
trap 'exit 130' INT

data_dir=${SSHGATE_DATA_DIR:-/var/lib/sshgate}
base=${SSHGATE_CONFIG-}
gen=$data_dir/sshgated.generated.conf

if [ -n "$base" ] && [ ! -r "$base" ]; then
    die "SSHGATE_CONFIG: cannot read $base"
fi
# The database: SSHGATE_DB, else the file's db, else in the data directory.
db_override=${SSHGATE_DB-}
if [ -z "$db_override" ] && [ -n "$base" ]; then
    db=$(file_value db "$base")
else
    db=$db_override
fi
if [ -z "$db" ]; then
    db=$data_dir/sshgate.db
    db_override=$db
fi

warn_unknown_vars
prepare_data_dir
init_db
generate_config
check_config "$@"
bootstrap_admin
export_backend_key

exec "$SSHGATED_BIN" -f "$gen" --foreground "$@"
