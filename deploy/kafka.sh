#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) for local
# development and tests, bound to 127.0.0.1 only. The jars come from Maven
# Central via deploy/kafka/pom.xml; no tarball, no docker.
#
#   deploy/kafka.sh fetch
#   deploy/kafka.sh up     [--dir DIR] [--port PORT] [--controller-port PORT] [--timeout SECS]
#   deploy/kafka.sh down   [--dir DIR] [--timeout SECS]
#   deploy/kafka.sh status [--dir DIR]
#
# See deploy/README.md or `deploy/kafka.sh --help`.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
POM="$SCRIPT_DIR/kafka/pom.xml"
PROG=${0##*/}

KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1)
[[ -n $KAFKA_VERSION ]] || { echo "$PROG: cannot read kafka.version from $POM" >&2; exit 2; }

CACHE_DIR=${CHARGEWATCH_KAFKA_CACHE:-$HOME/.cache/chargewatch/kafka-$KAFKA_VERSION}
LIBS="$CACHE_DIR/libs"
MARKER="$LIBS/.complete"

DEFAULT_DIR=${CHARGEWATCH_KAFKA_DIR:-$REPO_ROOT/var/kafka}
DEFAULT_PORT=${CHARGEWATCH_KAFKA_PORT:-9092}
DEFAULT_UP_TIMEOUT=${CHARGEWATCH_KAFKA_UP_TIMEOUT:-60}
DEFAULT_DOWN_TIMEOUT=${CHARGEWATCH_KAFKA_DOWN_TIMEOUT:-30}

MVN=${MVN:-mvn}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# Lean JVM settings: this is a dev broker on a small machine, start-up time
# matters more than peak throughput.
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}
TOOL_JVM_OPTS=${TOOL_JVM_OPTS:--Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}

usage() {
    cat <<EOF
Usage: $PROG COMMAND [OPTIONS]

Run a single-node Apache Kafka $KAFKA_VERSION broker (KRaft mode, broker and
controller in one JVM) on 127.0.0.1 for development and tests.

Commands:
  fetch     Download the Kafka jars from Maven Central (via mvn) into
            $LIBS
            Does nothing if they are already there.
  up        Fetch if needed, format storage on first use, start the broker in
            the background and wait until it answers metadata requests.
            Does nothing if a broker for DIR is already running.
  down      Stop the broker of DIR (SIGTERM, SIGKILL after the timeout).
  status    Exit 0 if the broker of DIR is running, 1 otherwise.

Options:
  --dir DIR              state dir: config, data, logs, pid
                         (default: $DEFAULT_DIR)
  --port PORT            client (PLAINTEXT) port (default: $DEFAULT_PORT)
  --controller-port PORT KRaft controller port (default: PORT+1)
  --timeout SECS         up: readiness timeout (default: $DEFAULT_UP_TIMEOUT)
                         down: clean-shutdown timeout (default: $DEFAULT_DOWN_TIMEOUT)
  -h, --help             show this help

Environment:
  CHARGEWATCH_KAFKA_CACHE  jar cache root (default: ~/.cache/chargewatch/kafka-$KAFKA_VERSION)
  CHARGEWATCH_KAFKA_DIR    default for --dir
  CHARGEWATCH_KAFKA_PORT   default for --port
  KAFKA_HEAP_OPTS          broker heap flags (default: $KAFKA_HEAP_OPTS)
  KAFKA_JVM_OPTS           other broker JVM flags
  JAVA_HOME, MVN           java / maven to use
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found in PATH${2:+ ($2)}"; }

is_port() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= 65535 )); }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pom_hash() { sha256sum "$POM" | cut -d ' ' -f 1; }

# Make DIR absolute; it does not have to exist.
abs_dir() {
    local d=$1
    [[ $d == /* ]] || d="$PWD/$d"
    # Normalise "a/./b" and trailing slashes without requiring existence.
    d=$(printf '%s' "$d" | sed -e 's:/\./:/:g' -e 's:/\.$::' -e 's:/*$::')
    printf '%s\n' "${d:-/}"
}

# pid of the broker started from $1, if it is alive; empty otherwise.
# Guards against stale pid files whose pid got reused by another process.
broker_pid() {
    local dir=$1 pidfile="$1/broker.pid" pid args
    [[ -f $pidfile ]] || return 0
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    if [[ -r /proc/$pid/cmdline ]]; then
        args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    else
        args=$(ps -ww -p "$pid" -o args= 2>/dev/null || true)
    fi
    if [[ $args == *kafka.Kafka* && $args == *"$dir/server.properties"* ]]; then
        printf '%s\n' "$pid"
    fi
}

configured_port() {
    sed -n 's|^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$1/server.properties" 2>/dev/null | head -n 1
}

libs_complete() { [[ -f $MARKER && $(<"$MARKER") == "$(pom_hash)" ]]; }

cmd_fetch() {
    if libs_complete; then
        echo "kafka $KAFKA_VERSION: jars already in $LIBS"
        return 0
    fi
    need "$MVN" "install Maven 3.6+"
    need "${JAVA}" "install a JDK 11+"
    mkdir -p "$CACHE_DIR"
    # Serialise concurrent fetches (e.g. two test runs starting at once).
    exec 9>"$CACHE_DIR/.fetch.lock"
    flock 9
    if libs_complete; then
        echo "kafka $KAFKA_VERSION: jars already in $LIBS"
        exec 9>&-
        return 0
    fi
    local tmp start n size
    tmp=$(mktemp -d "$CACHE_DIR/libs.tmp.XXXXXX")
    # shellcheck disable=SC2064  # expand $tmp now
    trap "rm -rf '$tmp' '$tmp.mvn.log'" EXIT
    echo "kafka $KAFKA_VERSION: fetching jars from Maven Central into $LIBS ..."
    start=$SECONDS
    # mvn -q still prints stray ANSI resets; keep its output for failures only.
    if ! "$MVN" -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.mvn.log" 2>&1; then
        cat "$tmp.mvn.log" >&2
        rm -f "$tmp.mvn.log"
        die "mvn dependency:copy-dependencies failed (output above)"
    fi
    rm -f "$tmp.mvn.log"
    [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "mvn did not produce kafka_2.13-$KAFKA_VERSION.jar"
    pom_hash >"$tmp/.complete"
    chmod 755 "$tmp"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    trap - EXIT
    exec 9>&-
    n=$(find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l)
    size=$(du -sh "$LIBS" | cut -f 1)
    echo "kafka $KAFKA_VERSION: $n jars ($size) in $LIBS ($((SECONDS - start))s)"
}

write_config() {
    local dir=$1 port=$2 cport=$3
    cat >"$dir/server.properties" <<EOF
# Generated by deploy/kafka.sh on every 'up'; edits are overwritten.
# Single-node KRaft: this JVM is both broker and (only) controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

log.dirs=$dir/data

# Topics must be created explicitly, as in production.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Internal topics: one replica is all there is.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1

# Consumer groups start immediately instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0

# Small machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF

    # Broker logs go to DIR/logs; stdout (DIR/broker.log) gets the same
    # INFO-level main log so start-up problems are visible in one place.
    cat >"$dir/log4j.properties" <<'EOF'
# Generated by deploy/kafka.sh. kafka.logs.dir is set on the java command line.
log4j.rootLogger=INFO, stdout, kafkaAppender

log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.kafkaAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.kafkaAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.kafkaAppender.File=${kafka.logs.dir}/server.log
log4j.appender.kafkaAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.kafkaAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.stateChangeAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.stateChangeAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.stateChangeAppender.File=${kafka.logs.dir}/state-change.log
log4j.appender.stateChangeAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.stateChangeAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.controllerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.controllerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.controllerAppender.File=${kafka.logs.dir}/controller.log
log4j.appender.controllerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.controllerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.cleanerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.cleanerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.cleanerAppender.File=${kafka.logs.dir}/log-cleaner.log
log4j.appender.cleanerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.cleanerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN

log4j.logger.org.apache.kafka.controller=INFO, controllerAppender
log4j.additivity.org.apache.kafka.controller=false
log4j.logger.kafka.controller=INFO, controllerAppender
log4j.additivity.kafka.controller=false

log4j.logger.state.change.logger=INFO, stateChangeAppender
log4j.additivity.state.change.logger=false

log4j.logger.kafka.log.LogCleaner=INFO, cleanerAppender
log4j.additivity.kafka.log.LogCleaner=false
EOF

    # CLI tools (storage format, readiness probe): warnings only, to stderr.
    cat >"$dir/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# Run a Kafka CLI class with the cached jars.
run_tool() {
    local dir=$1; shift
    # shellcheck disable=SC2086  # TOOL_JVM_OPTS is a list of flags
    "$JAVA" $TOOL_JVM_OPTS -Dlog4j.configuration="file:$dir/tools-log4j.properties" \
        -cp "$LIBS/*" "$@"
}

# Kafka's own cluster ids are 16 random bytes, base64url without padding.
# A leading '-' would be read as an option by the CLI, so avoid it.
random_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        [[ $id == -* || $id == AAAAAAAAAAAAAAAAAAAAA[AQ] ]] || break
    done
    printf '%s\n' "$id"
}

# Last lines of DIR/broker.log written after line $2 (i.e. by this start).
tail_log() {
    local dir=$1 from=${2:-0}
    echo "---- $dir/broker.log (last 40 lines of this start) ----" >&2
    tail -n "+$((from + 1))" "$dir/broker.log" 2>/dev/null | tail -n 40 >&2 || true
    echo "----" >&2
}

parse_opts() {
    # Sets OPT_DIR OPT_PORT OPT_CPORT OPT_TIMEOUT from "$@".
    OPT_DIR=$DEFAULT_DIR OPT_PORT=$DEFAULT_PORT OPT_CPORT="" OPT_TIMEOUT=""
    while (($#)); do
        case $1 in
            --dir) (($# >= 2)) || die "--dir needs a value"; OPT_DIR=$2; shift 2 ;;
            --dir=*) OPT_DIR=${1#*=}; shift ;;
            --port) (($# >= 2)) || die "--port needs a value"; OPT_PORT=$2; shift 2 ;;
            --port=*) OPT_PORT=${1#*=}; shift ;;
            --controller-port) (($# >= 2)) || die "--controller-port needs a value"; OPT_CPORT=$2; shift 2 ;;
            --controller-port=*) OPT_CPORT=${1#*=}; shift ;;
            --timeout) (($# >= 2)) || die "--timeout needs a value"; OPT_TIMEOUT=$2; shift 2 ;;
            --timeout=*) OPT_TIMEOUT=${1#*=}; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
    done
    [[ -n $OPT_DIR ]] || die "--dir must not be empty"
    OPT_DIR=$(abs_dir "$OPT_DIR")
    is_port "$OPT_PORT" || die "invalid port '$OPT_PORT'"
    [[ -n $OPT_CPORT ]] || OPT_CPORT=$((OPT_PORT + 1))
    is_port "$OPT_CPORT" || die "invalid controller port '$OPT_CPORT'"
    [[ $OPT_PORT != "$OPT_CPORT" ]] || die "port and controller port must differ"
    [[ -z $OPT_TIMEOUT || $OPT_TIMEOUT =~ ^[0-9]+$ ]] || die "invalid timeout '$OPT_TIMEOUT'"
}

cmd_up() {
    parse_opts "$@"
    local dir=$OPT_DIR port=$OPT_PORT cport=$OPT_CPORT timeout=${OPT_TIMEOUT:-$DEFAULT_UP_TIMEOUT}
    local pid start

    pid=$(broker_pid "$dir")
    if [[ -n $pid ]]; then
        echo "kafka already running: 127.0.0.1:$(configured_port "$dir") (dir $dir, pid $pid)"
        return 0
    fi

    cmd_fetch
    need "$JAVA" "install a JDK 11+"

    port_open "$port" && die "127.0.0.1:$port is already in use (another broker?); use --port"
    port_open "$cport" && die "127.0.0.1:$cport is already in use; use --controller-port"

    mkdir -p "$dir/data" "$dir/logs"
    rm -f "$dir/broker.pid"
    write_config "$dir" "$port" "$cport"

    if [[ ! -f $dir/data/meta.properties ]]; then
        local cid
        cid=$(random_cluster_id)
        echo "kafka: formatting $dir/data (cluster id $cid)"
        run_tool "$dir" kafka.tools.StorageTool format \
            --config "$dir/server.properties" --cluster-id "$cid" >"$dir/format.log" 2>&1 \
            || { cat "$dir/format.log" >&2; die "storage format failed"; }
    fi

    start=$SECONDS
    touch "$dir/broker.log"
    local log_from
    log_from=$(wc -l <"$dir/broker.log")
    {
        echo
        echo "==== $(date '+%Y-%m-%d %H:%M:%S') $PROG up: 127.0.0.1:$port controller :$cport ===="
    } >>"$dir/broker.log"
    # setsid: own session, so the broker survives the calling shell/terminal
    # and does not get its Ctrl-C. From a background subshell (not a process
    # group leader) setsid execs without forking, so $! is the java pid.
    # shellcheck disable=SC2086  # the *_OPTS variables are lists of flags
    (
        cd "$dir"
        exec setsid nohup "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS \
            -Dkafka.logs.dir="$dir/logs" \
            -Dlog4j.configuration="file:$dir/log4j.properties" \
            -cp "$LIBS/*" kafka.Kafka "$dir/server.properties"
    ) >>"$dir/broker.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/broker.pid"

    printf 'kafka: starting broker (pid %s), waiting up to %ss ' "$pid" "$timeout"
    local deadline=$((start + timeout)) last_dot=$SECONDS

    dot() { if ((SECONDS > last_dot)); then printf '.'; last_dot=$SECONDS; fi; }
    died() {
        echo
        echo "$PROG: broker (pid $pid) exited during start-up" >&2
        tail_log "$dir" "$log_from"
        rm -f "$dir/broker.pid"
        exit 1
    }
    timed_out() {
        echo
        echo "$PROG: broker not ready after ${timeout}s; it is still running (pid $pid)," \
            "stop it with: $PROG down --dir $dir" >&2
        tail_log "$dir" "$log_from"
        exit 1
    }

    # 1. Cheap: wait for the listener socket.
    until port_open "$port"; do
        kill -0 "$pid" 2>/dev/null || died
        ((SECONDS < deadline)) || timed_out
        dot
        sleep 0.3
    done

    # 2. Real: an admin client metadata round trip (list topics). The client
    #    retries internally until its API timeout, so one JVM start usually
    #    suffices; it runs in the background so we can keep printing dots and
    #    notice a dying broker.
    local remaining_ms probe probe_rc
    while :; do
        remaining_ms=$(((deadline - SECONDS) * 1000))
        ((remaining_ms > 0)) || timed_out
        cat >"$dir/admin.properties" <<EOF
request.timeout.ms=$((remaining_ms < 5000 ? remaining_ms : 5000))
default.api.timeout.ms=$remaining_ms
EOF
        run_tool "$dir" org.apache.kafka.tools.TopicCommand \
            --bootstrap-server "127.0.0.1:$port" --command-config "$dir/admin.properties" \
            --list >"$dir/probe.log" 2>&1 &
        probe=$!
        while kill -0 "$probe" 2>/dev/null; do
            if ! kill -0 "$pid" 2>/dev/null; then
                kill "$probe" 2>/dev/null || true
                wait "$probe" 2>/dev/null || true
                died
            fi
            if ((SECONDS >= deadline + 5)); then
                kill "$probe" 2>/dev/null || true
                wait "$probe" 2>/dev/null || true
                timed_out
            fi
            dot
            sleep 0.2
        done
        probe_rc=0
        wait "$probe" || probe_rc=$?
        ((probe_rc == 0)) && break
        ((SECONDS < deadline)) || { cat "$dir/probe.log" >&2; timed_out; }
        sleep 0.5
    done
    echo
    echo "kafka up: 127.0.0.1:$port (dir $dir, pid $pid) ready in $((SECONDS - start))s"
}

cmd_down() {
    parse_opts "$@"
    local dir=$OPT_DIR timeout=${OPT_TIMEOUT:-$DEFAULT_DOWN_TIMEOUT} pid start
    pid=$(broker_pid "$dir")
    if [[ -z $pid ]]; then
        rm -f "$dir/broker.pid"
        echo "kafka: no broker running for $dir"
        return 0
    fi
    start=$SECONDS
    printf 'kafka: stopping broker (pid %s) ' "$pid"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - start < timeout)); do
        printf '.'
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo
        echo "$PROG: no clean shutdown after ${timeout}s, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        rm -f "$dir/broker.pid"
        echo "kafka down (killed): dir $dir"
        return 0
    fi
    echo
    rm -f "$dir/broker.pid"
    echo "kafka down: dir $dir (clean shutdown in $((SECONDS - start))s)"
}

cmd_status() {
    parse_opts "$@"
    local dir=$OPT_DIR pid port
    pid=$(broker_pid "$dir")
    if [[ -z $pid ]]; then
        echo "kafka not running (dir $dir)"
        return 1
    fi
    port=$(configured_port "$dir")
    if [[ -n $port ]] && port_open "$port"; then
        echo "kafka running: 127.0.0.1:$port (dir $dir, pid $pid)"
    else
        echo "kafka running but not accepting connections yet: 127.0.0.1:${port:-?} (dir $dir, pid $pid)"
    fi
}

main() {
    (($#)) || { usage >&2; exit 2; }
    local cmd=$1; shift
    case $cmd in
        fetch)
            (($# == 0)) || { [[ $1 == -h || $1 == --help ]] && { usage; exit 0; }; die "fetch takes no options"; }
            cmd_fetch ;;
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        -h|--help|help) usage ;;
        *) echo "$PROG: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
    esac
}

main "$@"
