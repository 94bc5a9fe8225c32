# 30-lvm.sh - quiesce snapshot/backup --provider lvm on the VM's scratch
# disk (/dev/vda): classic and thin snapshots of ext4 logical volumes (frozen
# once, by quiesce: quiesced's FIFREEZE/FITHAW counters; classic through
# `dmsetup suspend --nolockfs` first, thin by nesting on >= 6.8, by lvcreate's
# own suspend on 6.1), the manifest's VG/LV names, delete, a snapshot of a
# filesystem quiesce already holds frozen, a backup of a busy volume whose
# snapshot checks clean, a failing lvcreate, an interrupted and a SIGKILLed
# CLI: after every case no device-mapper device is left suspended and the
# filesystem is writable.

STORE=/tmp/store
export QUIESCE_STORE=$STORE
HOOKS=/tmp/hooks.d
mkdir -p $HOOKS $STORE
chmod 755 $HOOKS
printf '#!/bin/sh\necho "hook $1"\n' >$HOOKS/10-app
chmod 755 $HOOKS/10-app

lvm_setup() {
        step 60 pvcreate -q -y /dev/vda
        [ $STEP_RC = 0 ] || return 1
        step 60 vgcreate -q vg /dev/vda
        [ $STEP_RC = 0 ] || return 1
        step 60 lvcreate -q -y -L 256M -n data vg
        step 60 lvcreate -q -y --type thin-pool -L 512M -n pool vg
        step 60 lvcreate -q -y -V 256M --thin -n thin vg/pool
        step 60 lvcreate -q -y -L 64M -n fz vg
        for lv in data thin fz; do
                mkfs_quiet ext4 /dev/vg/$lv || return 1
                mkdir -p /mnt/$lv
                mount /dev/vg/$lv /mnt/$lv || return 1
                mkdir /mnt/$lv/w
                echo "$lv" >/mnt/$lv/name
        done
        sync
}

# manifest_get NAME KEY: a string value of the manifest (first match)
manifest_get() {
        tr -d '\n' <$STORE/$1.json | sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p"
}

# fsck_clean DEV: e2fsck -fn passes and the journal needs no recovery
fsck_clean() {
        step 120 e2fsck -fn $1
        [ $STEP_RC = 0 ] || {
                t_fail "e2fsck -fn $1 rc=$STEP_RC: $(echo "$STEP_OUT" | cut -c1-300)"
                return
        }
        if dumpe2fs -h $1 2>/dev/null | grep -i "features" | grep -q needs_recovery; then
                t_fail "$1: the journal needs recovery (not frozen when taken)"
        fi
}

# no_suspended WHEN: no device-mapper device is left suspended
no_suspended() {
        local s x
        s=$(dmsetup info -c --noheadings -o name,suspended 2>&1 | grep -i suspended | tr '\n' ' ')
        [ -z "$s" ] || {
                t_fail "$1: still suspended: $s"
                for x in $(dmsetup info -c --noheadings -o name,suspended | grep -i suspended | cut -d: -f1); do
                        dmsetup resume $x
                done
        }
}

# writable MNT WHEN: a file can be created there now
writable() {
        probe $1
        [ $PROBE = thawed ] || {
                t_fail "$2: $1 is not writable (frozen)"
                step 10 fsfreeze -u $1
                probes_done 10
        }
}

# ctr_start / ctr_check WANT_FREEZE WANT_THAW: quiesced's FIFREEZE/FITHAW
# calls since ctr_start
ctr_start() {
        C_FZ=$(counter fifreeze)
        C_TH=$(counter fithaw)
}
ctr_check() {
        local fz th
        fz=$(($(counter fifreeze) - C_FZ))
        th=$(($(counter fithaw) - C_TH))
        C_DELTA="FIFREEZE $fz, FITHAW $th"
        [ "$fz" = $1 ] && [ "$th" = $2 ] || t_fail "quiesced's counters: $C_DELTA (want $1, $2)"
}

# the thin path depends on the kernel: >= 6.8 frozen by quiesce (lvcreate's
# lockfs suspend nests), else by lvcreate's own suspend
if kernel_at_least 6 8; then THIN_NESTS=1; else THIN_NESTS=0; fi

snapshot_case() { # NAME LV KIND
        local name=$1 lv=$2 kind=$3 snap
        want lvm-$kind-ext4 || return 0
        t_begin lvm-$kind-ext4
        ctr_start
        step 180 quiesce snapshot --provider lvm --name $name --hooks-dir /nonexistent /mnt/$lv
        [ $STEP_RC = 0 ] || t_fail "quiesce snapshot rc=$STEP_RC: $(echo "$STEP_OUT" | cut -c1-400)"
        local took=$STEP_MS out="$STEP_OUT" want=1
        [ $kind = thin ] && [ $THIN_NESTS = 0 ] && want=0
        ctr_check $want $want
        no_suspended "after the snapshot"
        writable /mnt/$lv "after the snapshot"
        if [ $kind = classic ]; then
                echo "$out" | grep -q "frozen by quiesce" || t_fail "the report does not say 'frozen by quiesce'"
                grep -q "suspend --nolockfs vg-$lv" $STORE/$name.json || t_fail "the manifest's output has no dmsetup suspend --nolockfs"
                grep -q "resumed by lvcreate" $STORE/$name.json || t_fail "the manifest's output does not say lvcreate resumed the origin"
        elif [ $want = 1 ]; then
                echo "$out" | grep -q "frozen by quiesce" || t_fail "the report does not say 'frozen by quiesce'"
        else
                echo "$out" | grep -q "frozen by lvcreate" || t_fail "the report does not say 'frozen by lvcreate'"
        fi
        [ "$(manifest_get $name lvm_origin)" = "vg/$lv" ] || t_fail "manifest lvm_origin='$(manifest_get $name lvm_origin)', not vg/$lv"
        snap=$(manifest_get $name lvm_snapshot)
        [ "$snap" = "vg/$lv-qz-$name" ] || t_fail "manifest lvm_snapshot='$snap', not vg/$lv-qz-$name"
        [ "$(manifest_get $name label)" = filesystem-consistent ] || t_fail "label $(manifest_get $name label)"
        local seg=$(lvs --noheadings -o segtype,origin vg/$lv-qz-$name 2>&1 | tr -s ' ')
        echo "  snapshot LV: $seg"
        [ -b /dev/vg/$lv-qz-$name ] || t_fail "/dev/vg/$lv-qz-$name does not exist (not active)"
        fsck_clean /dev/vg/$lv-qz-$name
        step 120 quiesce snapshot delete $name
        [ $STEP_RC = 0 ] || t_fail "quiesce snapshot delete rc=$STEP_RC: $STEP_OUT"
        lvs vg/$lv-qz-$name >/dev/null 2>&1 && t_fail "the snapshot LV is still there after delete"
        [ -e $STORE/$name.json ] && t_fail "the manifest is still there after delete"
        t_end "snapshot in ${took} ms; $C_DELTA; LV: $seg"
}

qzd_start 60s || echo "  quiesced did not start"
if lvm_setup; then
        info lvm-setup "$(lvs --noheadings -o lv_name,segtype,lv_size vg 2>&1 | tr -s ' ' | tr '\n' ';')"

        snapshot_case c1 data classic
        snapshot_case t1 thin thin

        # ---- a classic LV quiesce already holds frozen: the snapshot joins that freeze
        if want lvm-frozen-joined; then
                t_begin lvm-frozen-joined
                step 15 quiesce freeze --detach --timeout 60s /mnt/fz
                [ $STEP_RC = 0 ] || t_fail "quiesce freeze rc=$STEP_RC: $STEP_OUT"
                ctr_start
                step 120 quiesce snapshot --provider lvm --name f1 --hooks-dir /nonexistent /mnt/fz
                [ $STEP_RC = 0 ] || t_fail "quiesce snapshot rc=$STEP_RC: $(echo "$STEP_OUT" | cut -c1-400)"
                took=$STEP_MS
                ctr_check 0 0
                [ "$(manifest_get f1 label)" = filesystem-consistent ] || t_fail "label $(manifest_get f1 label)"
                no_suspended "after the snapshot"
                probe /mnt/fz
                [ $PROBE = frozen ] || t_fail "the first hold's freeze was released by the snapshot"
                fsck_clean /dev/vg/fz-qz-f1
                step 10 quiesce thaw /mnt/fz
                [ $STEP_RC = 0 ] || t_fail "quiesce thaw rc=$STEP_RC: $STEP_OUT"
                probes_done 10 || t_fail "writers still blocked after the thaw"
                writable /mnt/fz "after the thaw"
                step 120 quiesce snapshot delete f1
                # what lvcreate itself does on that frozen filesystem (recorded for the docs)
                step 15 quiesce freeze --detach --timeout 60s /mnt/fz
                step 120 lvcreate -q -s -n raw1 -l 10%ORIGIN vg/fz
                raw="lvcreate --snapshot on the frozen filesystem: rc=$STEP_RC ${STEP_MS}ms ($(echo "$STEP_OUT" | cut -c1-200))"
                [ $STEP_RC = 124 ] && t_fail "lvcreate HUNG on a filesystem quiesce holds frozen"
                info lvm-lvcreate-on-frozen "$raw"
                info lvm-after-failed-lvcreate "$(dmsetup info -c --noheadings -o name,attr 2>&1 | tr '\n' ';')"
                lvremove -q -y vg/raw1 >/dev/null 2>&1
                step 10 quiesce thaw /mnt/fz
                no_suspended "after the raw lvcreate"
                probes_done 10
                writable /mnt/fz "at the end"
                t_end "snapshot joined the freeze in ${took} ms ($C_DELTA); $raw"
        fi

        # ---- a thin LV quiesce already holds frozen: refused on < 6.8, joined on >= 6.8
        if want lvm-thin-frozen; then
                t_begin lvm-thin-frozen
                step 15 quiesce freeze --detach --timeout 60s /mnt/thin
                [ $STEP_RC = 0 ] || t_fail "quiesce freeze rc=$STEP_RC: $STEP_OUT"
                step 120 quiesce snapshot --provider lvm --name tf1 --hooks-dir /nonexistent /mnt/thin
                if [ $THIN_NESTS = 1 ]; then
                        [ $STEP_RC = 0 ] || t_fail "quiesce snapshot rc=$STEP_RC (want 0: joins, >= 6.8): $(echo "$STEP_OUT" | cut -c1-300)"
                        d="joined (>= 6.8)"
                else
                        [ $STEP_RC = 1 ] || t_fail "quiesce snapshot rc=$STEP_RC (want 1: refused, < 6.8)"
                        echo "$STEP_OUT" | grep -q "frozen by quiesce" || t_fail "no refusal naming quiesce's freeze: $STEP_OUT"
                        lvs vg/thin-qz-tf1 >/dev/null 2>&1 && t_fail "a snapshot LV was made"
                        d="refused (< 6.8): $(echo "$STEP_OUT" | cut -c1-160)"
                fi
                no_suspended "after the snapshot"
                step 10 quiesce thaw /mnt/thin
                [ $STEP_RC = 0 ] || t_fail "quiesce thaw rc=$STEP_RC: $STEP_OUT"
                probes_done 10
                writable /mnt/thin "after the thaw"
                [ -e $STORE/tf1.json ] && step 120 quiesce snapshot delete tf1
                t_end "$d"
        fi

        # ---- a full snapshot and backup of a busy volume
        if want lvm-backup-busy-ext4; then
                t_begin lvm-backup-busy-ext4
                rm -f /tmp/stopw
                (
                        i=0
                        while [ ! -e /tmp/stopw ]; do
                                dd if=/dev/urandom of=/mnt/data/w/$i bs=4k count=16 conv=fsync 2>/dev/null
                                echo $i >/tmp/acked
                                i=$((i + 1))
                        done
                ) >/dev/null 2>&1 </dev/null &
                wpid=$!
                sleep 2
                before=$(cat /tmp/acked 2>/dev/null)
                ctr_start
                step 300 quiesce backup --provider lvm --name b1 --keep-snapshot --hooks-dir $HOOKS --to /tmp/b1.tar /mnt/data
                [ $STEP_RC = 0 ] || t_fail "quiesce backup rc=$STEP_RC: $(echo "$STEP_OUT" | cut -c1-500)"
                took=$STEP_MS
                touch /tmp/stopw
                wait_gone $wpid 30 || t_fail "the writer did not stop"
                after=$(cat /tmp/acked)
                label=$(manifest_get b1 label)
                [ "$label" = application-consistent ] || t_fail "label '$label' (want application-consistent)"
                tar -tf /tmp/b1.tar >/tmp/b1.list 2>&1 || t_fail "tar -tf failed: $(head -3 /tmp/b1.list)"
                grep -q "mnt/data/name" /tmp/b1.list || t_fail "mnt/data/name is not in the archive"
                nw=$(grep -c "mnt/data/w/[0-9]" /tmp/b1.list)
                [ "${nw:-0}" -gt "${before:-0}" ] || t_fail "the archive has $nw writer files, the writer had acknowledged $before before the backup"
                ctr_check 1 1
                no_suspended "after the backup"
                writable /mnt/data "after the backup"
                fsck_clean /dev/vg/data-qz-b1
                step 120 quiesce snapshot delete b1
                [ $STEP_RC = 0 ] || t_fail "delete rc=$STEP_RC: $STEP_OUT"
                t_end "label $label; backup in ${took} ms; $C_DELTA; writer files: $before acknowledged before, $nw in the archive, $after when stopped"
        fi
        # ---- lvcreate fails after the origin was suspended: resumed before the thaw
        if want lvm-fail-resumed; then
                t_begin lvm-fail-resumed
                step 60 lvcreate -q -y -l 100%FREE -n filler vg
                [ $STEP_RC = 0 ] || t_fail "filler lvcreate rc=$STEP_RC: $STEP_OUT"
                ctr_start
                step 180 quiesce snapshot --provider lvm --name x1 --hooks-dir /nonexistent /mnt/data
                [ $STEP_RC = 0 ] && t_fail "quiesce snapshot succeeded on a full VG"
                [ $STEP_RC = 124 ] && t_fail "quiesce snapshot HUNG"
                d=$(echo "$STEP_OUT" | cut -c1-300)
                echo "$STEP_OUT" | grep -q "lvcreate --snapshot failed" || t_fail "no lvcreate failure reported: $d"
                ctr_check 1 1
                no_suspended "after the failed lvcreate"
                writable /mnt/data "after the failed lvcreate"
                lvs vg/data-qz-x1 >/dev/null 2>&1 && t_fail "a snapshot LV was made"
                step 60 lvremove -q -y vg/filler
                t_end "$C_DELTA; $d"
        fi

        # a slow lvcreate (3 s before the real one), so the CLI can be stopped
        # while the origin is suspended
        mkdir -p /tmp/slowbin
        printf '#!/bin/sh\nsleep 3\nexec %s "$@"\n' "$(command -v lvcreate)" >/tmp/slowbin/lvcreate
        chmod 755 /tmp/slowbin/lvcreate
        # stop_cli SIGNAL NAME: quiesce snapshot with the slow lvcreate in the
        # background; SIGNAL to it once vg-data is suspended. Sets SUS_SEEN.
        stop_cli() {
                local sig=$1 name=$2 i=0 pid
                PATH=/tmp/slowbin:$PATH quiesce snapshot --provider lvm --name $name --hooks-dir /nonexistent /mnt/data >/tmp/$name.out 2>&1 </dev/null &
                pid=$!
                SUS_SEEN=0
                while [ $i -lt 1500 ] && alive $pid; do
                        if dmsetup info -c --noheadings -o suspended vg-data 2>/dev/null | grep -qi suspended; then
                                SUS_SEEN=1
                                break
                        fi
                        usleep 20000
                        i=$((i + 1))
                done
                [ $SUS_SEEN = 1 ] || t_fail "vg-data was never seen suspended"
                kill -$sig $pid
                wait_gone $pid 120 || t_fail "the CLI did not end after SIG$sig"
                wait $pid
                CLI_RC=$?
                # the CLI is gone; while the origin is still suspended, quiesced must still hold the freeze
                AFTER_STOP="suspended=$(dmsetup info -c --noheadings -o suspended vg-data 2>&1) holds=$(counter holds_active)"
                case "$AFTER_STOP" in
                *Suspended*holds=0) t_fail "the origin is still suspended but quiesced already thawed ($AFTER_STOP)" ;;
                esac
                # the job ends by itself: wait until nothing is suspended and quiesced holds nothing
                i=0
                while [ $i -lt 60 ]; do
                        [ -z "$(dmsetup info -c --noheadings -o suspended | grep -i suspended)" ] &&
                                [ "$(counter holds_active)" = 0 ] && break
                        sleep 1
                        i=$((i + 1))
                done
                echo "  $name: CLI rc=$CLI_RC; right after: $AFTER_STOP; $(tr '\n' ' ' </tmp/$name.out | cut -c1-300); settled after ${i}s"
        }

        # ---- SIGTERM to the CLI while the origin is suspended
        if want lvm-interrupted; then
                t_begin lvm-interrupted
                ctr_start
                stop_cli TERM i1
                [ $CLI_RC = 0 ] && t_fail "the interrupted snapshot exited 0"
                ctr_check 1 1
                no_suspended "after the interrupted snapshot"
                writable /mnt/data "after the interrupted snapshot"
                lvs vg/data-qz-i1 >/dev/null 2>&1 && {
                        t_fail "a snapshot LV was made although lvcreate was stopped"
                        lvremove -q -y vg/data-qz-i1
                }
                t_end "CLI rc=$CLI_RC; $C_DELTA; $(tr '\n' ' ' </tmp/i1.out | cut -c1-200)"
        fi

        # ---- SIGKILL to the CLI while the origin is suspended: the job goes on,
        # resumes it, and only then does quiesced thaw (the job holds its connection)
        if want lvm-killed-cli; then
                t_begin lvm-killed-cli
                ctr_start
                stop_cli KILL k1
                [ $CLI_RC = 137 ] || t_fail "CLI rc=$CLI_RC (want 137: SIGKILL)"
                ctr_check 1 1
                no_suspended "after the killed snapshot"
                writable /mnt/data "after the killed snapshot"
                st=$(lvs --noheadings -o lv_name,origin vg/data-qz-k1 2>&1 | tr -s ' ')
                echo "  the job's snapshot LV: $st"
                lvremove -q -y vg/data-qz-k1 >/dev/null 2>&1
                t_end "$C_DELTA; right after the kill: $AFTER_STOP; the job finished alone: LV $st"
        fi
else
        for n in lvm-classic-ext4 lvm-thin-ext4 lvm-frozen-joined lvm-thin-frozen lvm-backup-busy-ext4 lvm-fail-resumed lvm-interrupted lvm-killed-cli; do
                want $n && echo "QZTEST $n FAIL LVM setup failed: $STEP_OUT"
        done
fi
qzd_stop
