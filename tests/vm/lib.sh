# tests/vm/lib.sh - helpers for the scenarios that run inside the test VM
# (busybox sh). Every command that could block on a frozen filesystem or a
# suspended device runs through `step`, which never waits past its limit: a
# step still running then is a hang, reported as such, and left running
# (it ends when the scenario's cleanup resumes and thaws).
#
# Results:   t_begin NAME; t_check COND "what was wrong"; t_end ["detail"]
#            -> "QZTEST NAME PASS|FAIL detail" (FAIL lists every failed check)
# Notes:     info KEY TEXT -> "QZINFO KEY TEXT" (facts for docs/device-mapper.md)

export QUIESCE_SOCKET=/run/qz.sock

# Debian's busybox-static runs its own applets before anything in PATH:
# util-linux's versions, by their path.
losetup() { /usr/sbin/losetup "$@"; }
fsfreeze() { /usr/sbin/fsfreeze "$@"; }
blkid() { /usr/sbin/blkid "$@"; }
STEPS=/tmp/steps
mkdir -p $STEPS
STEP_N=0
PROBES=""

now_ms() {
        local u s c
        read u _ </proc/uptime
        s=${u%.*}
        c=${u#*.}
        c=${c#0}
        echo $((s * 1000 + ${c:-0} * 10))
}

info() {
        local k=$1
        shift
        echo "QZINFO $k $*"
}

# alive PID: the process exists and is not a zombie
alive() {
        local st
        [ -r /proc/$1/stat ] || return 1
        read -r st </proc/$1/stat 2>/dev/null || return 1
        set -- $st
        [ "$3" != Z ]
}

# pstate PID: its state letter and kernel wait channel ("D percpu_rwsem_wait")
pstate() {
        local st w
        read -r st </proc/$1/stat 2>/dev/null || {
                echo gone
                return
        }
        set -- $st
        w=$(cat /proc/$1/wchan 2>/dev/null)
        echo "$3 ${w:-?}"
}

# step SECONDS CMD...: runs CMD; sets STEP_RC (124: still running after
# SECONDS, i.e. hung; STEP_PID then names it), STEP_OUT (its output, one
# line), STEP_MS (how long it took, or waited)
step() {
        local secs=$1 t0 limit f
        shift
        STEP_N=$((STEP_N + 1))
        f=$STEPS/$STEP_N
        t0=$(now_ms)
        limit=$((t0 + secs * 1000))
        "$@" >$f 2>&1 </dev/null &
        STEP_PID=$!
        while alive $STEP_PID; do
                if [ "$(now_ms)" -ge $limit ]; then
                        STEP_RC=124
                        STEP_MS=$(($(now_ms) - t0))
                        STEP_OUT="HUNG after ${secs}s ($(pstate $STEP_PID)): $(tr '\n' ' ' <$f)"
                        echo "  step [$*] HUNG: $(pstate $STEP_PID)" >&2
                        HUNG="$HUNG $STEP_PID"
                        return 0
                fi
                usleep 20000
        done
        wait $STEP_PID
        STEP_RC=$?
        STEP_MS=$(($(now_ms) - t0))
        STEP_OUT=$(tr '\n' ' ' <$f | sed 's/ *$//')
        echo "  step [$*] rc=$STEP_RC ${STEP_MS}ms: $STEP_OUT" >&2
        return 0
}

# wait_gone PID SECONDS: 0 when PID has ended within SECONDS
wait_gone() {
        local i=0
        while alive $1 && [ $i -lt $(($2 * 50)) ]; do
                usleep 20000
                i=$((i + 1))
        done
        ! alive $1
}

# kernel_at_least MAJOR MINOR
kernel_at_least() {
        local v M r m
        v=$(uname -r)
        M=${v%%.*}
        r=${v#*.}
        m=${r%%.*}
        [ "$M" -gt $1 ] || { [ "$M" -eq $1 ] && [ "$m" -ge $2 ]; }
}

# ---- results

want() {
        [ -z "$only" ] && return 0
        echo "$1" | grep -Eq "$only"
}

t_begin() {
        T_NAME=$1
        T_ERR=""
        T_T0=$(now_ms)
        echo "  ---- $T_NAME"
}

# t_check CONDITION-EXIT-STATUS "message when false", e.g.
#   t_check $([ $STEP_RC = 0 ]; echo $?) "freeze failed: $STEP_OUT"
t_fail() {
        T_ERR="$T_ERR${T_ERR:+; }$*"
        echo "  FAILED CHECK: $*"
}

t_end() {
        local detail="$*" ms=$(($(now_ms) - T_T0))
        if [ -z "$T_ERR" ]; then
                echo "QZTEST $T_NAME PASS ${detail:+$detail }(${ms} ms)"
        else
                echo "QZTEST $T_NAME FAIL $T_ERR${detail:+ | $detail}"
        fi
}

# ---- is it frozen?

# probe MNT: a writer creates a file; PROBE=frozen if it is still blocked
# after 1 s (its pid joins PROBES and it finishes at the thaw), else
# PROBE=thawed. (Not for $(...): the writer must not hold a pipe open.)
probe() {
        local f=$1/.probe.$STEP_N.$(now_ms) pid i=0
        (echo x >$f) >/dev/null 2>&1 </dev/null &
        pid=$!
        while alive $pid && [ $i -lt 50 ]; do
                usleep 20000
                i=$((i + 1))
        done
        if alive $pid; then
                PROBES="$PROBES $pid"
                PROBE=frozen
        else
                wait $pid
                PROBE=thawed
        fi
}

# probes_done SECONDS: every blocked probe writer finished within SECONDS
probes_done() {
        local secs=$1 t0 p left
        t0=$(now_ms)
        while :; do
                left=""
                for p in $PROBES; do
                        alive $p && left="$left $p"
                done
                [ -z "$left" ] && {
                        PROBES=""
                        return 0
                }
                [ $(($(now_ms) - t0)) -ge $((secs * 1000)) ] && return 1
                usleep 20000
        done
}

# ---- quiesced

qzd_start() {
        rm -f /run/qz.sock
        quiesced --socket /run/qz.sock --max-frozen "${1:-60s}" --log-level debug >>/tmp/quiesced.log 2>&1 &
        QZD_PID=$!
        local i=0
        while [ ! -S /run/qz.sock ] && [ $i -lt 200 ]; do
                usleep 20000
                i=$((i + 1))
        done
        [ -S /run/qz.sock ]
}

qzd_stop() {
        [ -n "$QZD_PID" ] || return 0
        kill -TERM $QZD_PID 2>/dev/null
        local i=0
        while alive $QZD_PID && [ $i -lt 250 ]; do
                usleep 20000
                i=$((i + 1))
        done
        alive $QZD_PID && kill -KILL $QZD_PID
        wait $QZD_PID 2>/dev/null
        QZD_PID=""
}

# counter NAME: quiesced's Status counter (fifreeze, fithaw)
counter() {
        step 10 quiesce status --json
        [ $STEP_RC = 0 ] || {
                echo "status-failed-rc$STEP_RC"
                return
        }
        tr -d ' \n' <$STEPS/$STEP_N | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# ---- devices

# loopdev SIZE_MB: a loop device over a new sparse file in /tmp
loopdev() {
        local img=/tmp/img.$STEP_N.$(now_ms)
        truncate -s ${1}M $img
        losetup --find --show $img
}

# mkfs_quiet FSTYPE DEV
mkfs_quiet() {
        case $1 in
        ext4) mkfs.ext4 -q -F "$2" ;;
        xfs) mkfs.xfs -q -f "$2" ;;
        esac
}

# dm_cleanup NAME MOUNTPOINT: resume, thaw, unmount, remove, whatever state it is in
dm_cleanup() {
        local dm=$1 mnt=$2
        dmsetup resume $dm 2>/dev/null
        [ -n "$mnt" ] && fsfreeze -u $mnt 2>/dev/null
        probes_done 10 || echo "  cleanup: writers still blocked: $PROBES"
        [ -n "$mnt" ] && umount $mnt 2>/dev/null
        dmsetup remove $dm 2>/dev/null
}
