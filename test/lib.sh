# test/lib.sh: shell helpers shared by test/run_all.sh and demo/run_demo.sh.
# Source it (bash); it defines functions and a few OF_* variables, and runs
# nothing by itself.
#
# The scripts work in two stages:
#   outer (whoever ran the script, normally root): install the Debian
#     packages, copy the work tree to a temp dir, build it, `make install`;
#   inner (a non-root user: `postgres` when run as root, else the current
#     user, because initdb refuses root): everything that runs a cluster,
#     on the copy, so that user never writes into the repo.
# Every cluster lives under the temp dir; of_stop_all_clusters stops
# whatever postmaster is still running there (by the pid in its
# postmaster.pid), and of_outer_cleanup removes the temp dir.

OF_PG_MAJOR=15
# OF_PG_ROOT (optional): a private, relocated copy of the server (a directory
# holding usr/lib/postgresql/15, usr/share/postgresql/15 and
# usr/include/postgresql), so that several runs on one machine never install
# over each other's extension.  Unset: the Debian install under /usr.
OF_PG_ROOT="${OF_PG_ROOT:-}"
OF_BINDIR=$OF_PG_ROOT/usr/lib/postgresql/$OF_PG_MAJOR/bin
OF_PG_CONFIG=$OF_BINDIR/pg_config
OF_PGXS_DIR=$OF_PG_ROOT/usr/lib/postgresql/$OF_PG_MAJOR/lib/pgxs
OF_PG_REGRESS=$OF_PGXS_DIR/src/test/regress/pg_regress
OF_PG_ISOLATION_REGRESS=$OF_PGXS_DIR/src/test/isolation/pg_isolation_regress
OF_DEPS=(postgresql-15 postgresql-server-dev-15 libjson-c-dev libipc-run-perl
         libssl-dev make gcc clang graphviz)

of_log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
of_warn() { printf '[%s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
of_die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- outer ---

# Debian packages of OF_DEPS that are not installed, one a line.
of_missing_deps() {
  local p
  for p in "${OF_DEPS[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
      || echo "$p"
  done
}

# node and npm, for the validator suite (test/validator: asl-validator from
# npm) when SUITES names it: Debian's nodejs and npm packages, unless node
# and npm are already there (a NodeSource nodejs package brings its own npm
# and conflicts with Debian's).
of_missing_node() {
  case " ${SUITES:-} " in *" validator "*) ;; *) return 0 ;; esac
  command -v node >/dev/null 2>&1 || echo nodejs
  command -v npm >/dev/null 2>&1 || echo npm
}

# Install what is missing (root), or say what to install (not root).
of_install_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    of_warn "dpkg-query not found (not Debian?): not checking packages"
    return 0
  fi
  local missing
  missing="$( (of_missing_deps; of_missing_node) | tr '\n' ' ')"
  missing="${missing% }"
  if [ -z "$missing" ]; then
    of_log "packages: all present (${OF_DEPS[*]})"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "ERROR: missing Debian packages: $missing" >&2
    echo "       install them as root:  apt-get update && apt-get install -y $missing" >&2
    return 1
  fi
  of_log "installing: $missing"
  # Installing postgresql-common for the first time would create and start a
  # 'main' cluster on port 5432 that nothing here uses: ask it not to.
  if ! dpkg-query -W -f='${Status}\n' postgresql-common 2>/dev/null | grep -q '^install ok installed$' \
     && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    printf 'create_main_cluster = false\n' > /etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null || { echo "ERROR: apt-get update failed" >&2; return 1; }
  # shellcheck disable=SC2086
  apt-get install -y -qq -o Dpkg::Use-Pty=0 \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      $missing </dev/null >/tmp/orderflow-apt.log 2>&1 \
    || { tail -n 40 /tmp/orderflow-apt.log >&2; echo "ERROR: apt-get install failed" >&2; return 1; }
  missing="$( (of_missing_deps; of_missing_node) | tr '\n' ' ')"
  if [ -n "${missing// /}" ]; then
    echo "ERROR: still missing after apt-get install: $missing" >&2
    return 1
  fi
  of_log "packages installed"
}

# The user that runs clusters: postgres when we are root, else ourselves.
of_pick_run_user() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "ERROR: user postgres does not exist (postgresql-15 not installed?)" >&2; return 1; }
    OF_RUN_USER=postgres
  else
    OF_RUN_USER="$(id -un)"
  fi
  export OF_RUN_USER
}

# Build, in the array OF_CMD, a command line that runs "$@" as OF_RUN_USER
# with a clean, explicit environment.  Extra VAR=value words may come before
# the command: of_user_cmd A=1 cmd args
of_user_cmd() {
  local -a envv=(
    "PATH=$OF_BINDIR:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    "LANG=C.UTF-8" "LC_MESSAGES=C"
    "TMPDIR=${OF_WORK:-/tmp}"
    "CI=${CI:-}"
    "OF_PG_ROOT=${OF_PG_ROOT:-}"
  )
  while [ $# -gt 0 ] && [[ $1 == [A-Za-z_]*=* ]]; do envv+=("$1"); shift; done
  if [ "$(id -un)" = "$OF_RUN_USER" ]; then
    OF_CMD=(env -u LC_ALL -u PGHOST -u PGPORT -u PGDATABASE -u PGUSER -u PGDATA
            "HOME=${HOME:-/tmp}" "${envv[@]}" "$@")
  else
    local home
    home="$(getent passwd "$OF_RUN_USER" | cut -d: -f6)"
    OF_CMD=(runuser -u "$OF_RUN_USER" -- env -i "HOME=${home:-/tmp}" "USER=$OF_RUN_USER"
            "LOGNAME=$OF_RUN_USER" "${envv[@]}" "$@")
  fi
}

# Run a command as OF_RUN_USER (see of_user_cmd).
of_as_user() {
  local -a OF_CMD
  of_user_cmd "$@"
  "${OF_CMD[@]}"
}

# Run the inner stage as OF_RUN_USER in a session (process group) of its
# own, in the background, and wait for it: a signal to this script then
# reaches our trap at once, and of_outer_cleanup ends that process group
# (OF_INNER_PID) before stopping the clusters.
of_run_inner() {
  local -a OF_CMD
  of_user_cmd "$@"
  setsid "${OF_CMD[@]}" </dev/null 9<&- &
  OF_INNER_PID=$!
  wait "$OF_INNER_PID"
  local rc=$?
  OF_INNER_PID=
  return "$rc"
}

of_kill_inner() {
  local pid="${OF_INNER_PID:-}" i
  [ -n "$pid" ] || return 0
  OF_INNER_PID=
  kill -0 "$pid" 2>/dev/null || return 0
  echo "stopping the test run (process group $pid)" >&2
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# Run a command as root: directly, or through sudo.
of_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "ERROR: need root for: $* (and sudo is not installed)" >&2
    return 1
  fi
}

# Make OF_WORK (a temp dir owned by OF_RUN_USER) and copy the work tree into
# OF_WORK/repo (no .git, no build products).  If the conformance suite sits
# beside the repo (../shared/conformance), copy it to OF_WORK/shared too;
# the same for the seed definition (../shared/seed).
of_make_copy() {  # of_make_copy REPO PREFIX
  local repo="$1" prefix="${2:-orderflow}"
  OF_WORK="$(mktemp -d "/tmp/$prefix.XXXXXX")" || return 1
  export OF_WORK
  mkdir -p "$OF_WORK/repo"
  tar -C "$repo" \
      --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
      --exclude=./results --exclude=./output_iso --exclude=./tmp_check \
      --exclude=./tmp_check_iso --exclude=./output_nopreload --exclude=./tmp_check_nopreload --exclude=./log \
      --exclude=./regression.diffs --exclude=./regression.out \
      -cf - . | tar -C "$OF_WORK/repo" -xf - || return 1
  if [ -d "$repo/../shared/conformance" ]; then
    mkdir -p "$OF_WORK/shared"
    cp -R "$repo/../shared/conformance" "$OF_WORK/shared/" || return 1
    chmod -R u+w "$OF_WORK/shared"
  fi
  # the user's seed definition: TAP 026 checks demo/ has it byte for byte
  if [ -d "$repo/../shared/seed" ]; then
    mkdir -p "$OF_WORK/shared"
    cp -R "$repo/../shared/seed" "$OF_WORK/shared/" || return 1
    chmod -R u+w "$OF_WORK/shared"
  fi
  if [ "$(id -u)" -eq 0 ] && [ "$OF_RUN_USER" != root ]; then
    chown -R "$OF_RUN_USER:" "$OF_WORK"
  fi
}

# Runs on one machine share one installed extension: hold a lock from
# `make install` to the end of the run (fd 9, released when this script
# exits; the inner stage and the clusters do not inherit it), so that a
# concurrent run does not replace the extension under our tests.
OF_LOCK_FILE=/tmp/orderflow-install${OF_PG_ROOT:+$(printf %s "$OF_PG_ROOT" | tr / _)}.lock
of_lock_install() {
  command -v flock >/dev/null 2>&1 || return 0
  [ -e "$OF_LOCK_FILE" ] || { : > "$OF_LOCK_FILE" && chmod 666 "$OF_LOCK_FILE"; } 2>/dev/null
  exec 9<"$OF_LOCK_FILE" || return 0
  if ! flock -n 9; then
    of_log "waiting for another orderflow run on this machine to finish (lock $OF_LOCK_FILE)"
    flock -w 1800 9 || of_warn "still locked after 30 min: going on anyway"
  fi
}

# Build in the copy (as the run user) and install (as root).
# Build output goes to OF_WORK/build.log; its tail is shown on failure.
of_build_install() {
  local log="$OF_WORK/build.log"
  of_log "building (make) in $OF_WORK/repo"
  if ! of_as_user make -C "$OF_WORK/repo" PG_CONFIG="$OF_PG_CONFIG" -j"$(nproc 2>/dev/null || echo 2)" >"$log" 2>&1; then
    echo "---- make failed; last 60 lines of the build log ----"
    tail -n 60 "$log"
    echo "-----------------------------------------------------"
    return 1
  fi
  of_lock_install
  of_log "installing (make install)"
  if ! of_as_root make -C "$OF_WORK/repo" PG_CONFIG="$OF_PG_CONFIG" install >>"$log" 2>&1; then
    echo "---- make install failed; last 40 lines ----"
    tail -n 40 "$log"
    return 1
  fi
  # make install (as root) must not leave root-owned files in the copy
  if [ "$(id -u)" -eq 0 ] && [ "$OF_RUN_USER" != root ]; then
    chown -R "$OF_RUN_USER:" "$OF_WORK"
  fi
  of_log "built and installed"
}

# The released version that test/t/020_upgrade.pl upgrades from: its
# source as released (git archive of commit 1c42e12, whose sql/install/
# became sql/orderflow--0.1.0.sql: Makefile, orderflow.control, src/,
# sql/install/), committed as test/upgrade/orderflow-0.1.0.tar.gz so that
# the test needs no git history (CI may clone shallow).  Where the history
# is there, the tarball is checked against it.
OF_OLD_COMMIT="${OF_OLD_COMMIT:-1c42e12}"
OF_OLD_TARBALL=test/upgrade/orderflow-0.1.0.tar.gz

# of_build_old_version REPO: build orderflow 0.1.0 from REPO's
# OF_OLD_TARBALL and install it into a private copy of the server,
# OF_WORK/pg-old; on success OF_OLD_INSTALL_DIR is the copy's
# usr/lib/postgresql/15 (PostgreSQL::Test::Cluster's install_path), else
# OF_OLD_FAILURE says why.  Writes only in OF_WORK.
of_build_old_version() {
  local repo="$1" src="$OF_WORK/old-src" root="$OF_WORK/pg-old" log="$OF_WORK/build-old.log" d
  OF_OLD_INSTALL_DIR="" OF_OLD_FAILURE=""
  if [ ! -f "$repo/$OF_OLD_TARBALL" ]; then
    OF_OLD_FAILURE="$OF_OLD_TARBALL is missing"; of_warn "$OF_OLD_FAILURE"; return 1
  fi
  if git -c safe.directory="*" -C "$repo" rev-parse --verify -q "$OF_OLD_COMMIT^{commit}" >/dev/null 2>&1; then
    if ! cmp -s <(gzip -dc "$repo/$OF_OLD_TARBALL") \
         <(git -c safe.directory="*" -C "$repo" archive --format=tar "$OF_OLD_COMMIT" Makefile orderflow.control src sql/install); then
      OF_OLD_FAILURE="$OF_OLD_TARBALL differs from git archive $OF_OLD_COMMIT"; of_warn "$OF_OLD_FAILURE"; return 1
    fi
    of_log "$OF_OLD_TARBALL is git archive $OF_OLD_COMMIT"
  fi
  of_log "building orderflow 0.1.0 into $root (for the upgrade test)"
  rm -rf "$src" "$root" && mkdir -p "$src" "$root/usr/lib/postgresql" "$root/usr/share/postgresql" "$root/usr/include" || return 1
  if ! tar -C "$src" -xzf "$repo/$OF_OLD_TARBALL"; then
    OF_OLD_FAILURE="could not unpack $OF_OLD_TARBALL"; return 1
  fi
  for d in "lib/postgresql/$OF_PG_MAJOR" "share/postgresql/$OF_PG_MAJOR" "include/postgresql"; do
    cp -a "$OF_PG_ROOT/usr/$d" "$root/usr/$(dirname "$d")/" || { OF_OLD_FAILURE="could not copy the server ($d)"; return 1; }
  done
  # the new version's files must not be in the old installation
  rm -f "$root/usr/share/postgresql/$OF_PG_MAJOR/extension/orderflow"* "$root/usr/lib/postgresql/$OF_PG_MAJOR/lib/orderflow.so"
  if [ "$(id -u)" -eq 0 ] && [ "$OF_RUN_USER" != root ]; then chown -R "$OF_RUN_USER:" "$src" "$root"; fi
  if ! of_as_user make -C "$src" PG_CONFIG="$root/usr/lib/postgresql/$OF_PG_MAJOR/bin/pg_config" \
        -j"$(nproc 2>/dev/null || echo 2)" install >"$log" 2>&1; then
    tail -n 40 "$log"
    OF_OLD_FAILURE="building orderflow 0.1.0 failed (see $log)"
    return 1
  fi
  OF_OLD_INSTALL_DIR="$root/usr/lib/postgresql/$OF_PG_MAJOR"
  of_log "orderflow 0.1.0 installed in $root"
}

# Stop every postmaster whose data directory is under DIR (default
# OF_WORK): clusters of ours that a killed or crashed test left behind.
# Signals only the pid written in that data directory's postmaster.pid.
of_stop_all_clusters() {
  local dir="${1:-$OF_WORK}" pidfile pid datadir i
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  while IFS= read -r pidfile; do
    datadir="$(dirname "$pidfile")"
    pid="$(head -n 1 "$pidfile" 2>/dev/null)"
    case "$pid" in ''|*[!0-9]*) continue ;; esac
    kill -0 "$pid" 2>/dev/null || continue
    # make sure it is that cluster's postmaster, not a recycled pid
    if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'postgres'; then
      continue
    fi
    echo "stopping leftover postmaster $pid ($datadir)" >&2
    kill -INT "$pid" 2>/dev/null           # fast shutdown
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -QUIT "$pid" 2>/dev/null        # immediate shutdown
      for i in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done < <(find "$dir" -name postmaster.pid -type f 2>/dev/null)
  return 0
}

of_outer_cleanup() {
  of_kill_inner
  [ -n "${OF_WORK:-}" ] && [ -d "$OF_WORK" ] || return 0
  of_stop_all_clusters "$OF_WORK"
  if [ -n "${OF_KEEP_WORK:-}" ]; then
    echo "(kept $OF_WORK)" >&2
  else
    rm -rf "$OF_WORK"
  fi
}

# ---------------------------------------------------------------- inner ---

# A TCP port nobody listens on and no unix socket in /tmp uses.
of_free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    [ -e "/tmp/.s.PGSQL.$p" ] && continue
    [ -e "/var/run/postgresql/.s.PGSQL.$p" ] && continue
    [ -n "${OF_WORK:-}" ] && [ -e "$OF_WORK/sock/.s.PGSQL.$p" ] && continue
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
    echo "$p"
    return 0
  done
  echo "ERROR: no free port found" >&2
  return 1
}

# of_cluster_start DIR DBNAME [extra postgresql.conf lines...]
# initdb in DIR/data, configure orderflow for DBNAME, start it listening only
# on a unix socket in DIR/sock.  Sets and exports PGHOST PGPORT PGUSER
# PGDATABASE and OF_CLUSTER_DIR; the log is DIR/server.log.
of_cluster_start() {
  local dir="$1" db="$2"; shift 2
  local port
  port="$(of_free_port)" || return 1
  mkdir -p "$dir/sock"
  if ! initdb -D "$dir/data" -A trust -U "$(id -un)" --no-locale -E UTF8 --no-sync \
       >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log"
    return 1
  fi
  {
    echo "# ---- orderflow test/demo cluster (test/lib.sh) ----"
    echo "port = $port"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$dir/sock'"
    echo "shared_preload_libraries = 'orderflow'"
    echo "orderflow.database = '$db'"
    echo "orderflow.workers = 2"
    echo "orderflow.poll_interval = 200ms"
    echo "max_worker_processes = 16"
    echo "fsync = off"
    echo "log_line_prefix = '%m [%p] %b %a %u@%d: '"
    echo "log_min_error_statement = error"
    local l
    for l in "$@"; do echo "$l"; done
  } >> "$dir/data/postgresql.conf"
  OF_CLUSTER_DIR="$dir"
  export OF_CLUSTER_DIR
  if ! pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >"$dir/pg_ctl.log" 2>&1; then
    cat "$dir/pg_ctl.log"
    echo "---- server log (last 40 lines) ----"
    tail -n 40 "$dir/server.log" 2>/dev/null
    return 1
  fi
  export PGHOST="$dir/sock" PGPORT="$port" PGUSER="$(id -un)" PGDATABASE="$db"
  if [ "$db" != postgres ]; then
    psql -X -q -d postgres -c "CREATE DATABASE \"$db\"" || return 1
  fi
}

# of_cluster_stop [DIR]: stop the cluster started by of_cluster_start.
of_cluster_stop() {
  local dir="${1:-${OF_CLUSTER_DIR:-}}"
  [ -n "$dir" ] && [ -f "$dir/data/postmaster.pid" ] || return 0
  pg_ctl -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
    || pg_ctl -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
    || of_stop_all_clusters "$dir"
}

of_server_log_tail() {  # of_server_log_tail FILE [N]
  local f="$1" n="${2:-60}"
  [ -f "$f" ] || return 0
  echo "---- $f (last $n lines) ----"
  tail -n "$n" "$f"
  echo "----"
}
