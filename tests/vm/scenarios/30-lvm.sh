# 30-lvm.sh - quiesce snapshot/backup --provider lvm on the VM's scratch
# disk (/dev/vda): classic and thin snapshots of ext4 logical volumes, the
# manifest's VG/LV names, delete, a backup of a busy volume whose snapshot
# checks clean, and what LVM does on a filesystem someone already froze.

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

snapshot_case() { # NAME LV KIND
        local name=$1 lv=$2 kind=$3 snap
        want lvm-$kind-ext4 || return 0
        t_begin lvm-$kind-ext4
        step 180 quiesce snapshot --provider lvm --name $name --hooks-dir /nonexistent /mnt/$lv
        [ $STEP_RC = 0 ] || t_fail "quiesce snapshot rc=$STEP_RC: $(echo "$STEP_OUT" | cut -c1-400)"
        local took=$STEP_MS
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
        t_end "snapshot in ${took} ms; LV: $seg"
}

qzd_start 60s || echo "  quiesced did not start"
if lvm_setup; then
        info lvm-setup "$(lvs --noheadings -o lv_name,segtype,lv_size vg 2>&1 | tr -s ' ' | tr '\n' ';')"

        snapshot_case c1 data classic
        snapshot_case t1 thin thin

        # ---- LVM on a filesystem quiesce holds frozen: refused before anything
        if want lvm-frozen-refused; then
                t_begin lvm-frozen-refused
                step 15 quiesce freeze --detach --timeout 30s /mnt/fz
                [ $STEP_RC = 0 ] || t_fail "quiesce freeze rc=$STEP_RC: $STEP_OUT"
                step 60 quiesce snapshot --provider lvm --name f1 /mnt/fz
                [ $STEP_RC = 1 ] || t_fail "quiesce snapshot rc=$STEP_RC (want 1: refused)"
                echo "$STEP_OUT" | grep -q "frozen by quiesce" || t_fail "no refusal naming quiesce's freeze: $STEP_OUT"
                lvs vg/fz-qz-f1 >/dev/null 2>&1 && t_fail "a snapshot LV was made"
                # what lvcreate itself does on that frozen filesystem (recorded for the docs)
                step 120 lvcreate -q -s -n raw1 -l 10%ORIGIN vg/fz
                raw="lvcreate --snapshot on the frozen filesystem: rc=$STEP_RC ${STEP_MS}ms ($(echo "$STEP_OUT" | cut -c1-200))"
                [ $STEP_RC = 124 ] && t_fail "lvcreate HUNG on a filesystem quiesce holds frozen"
                info lvm-lvcreate-on-frozen "$raw"
                info lvm-after-failed-lvcreate "$(dmsetup info -c --noheadings -o name,attr 2>&1 | tr '\n' ';')"
                lvremove -q -y vg/raw1 >/dev/null 2>&1
                step 10 quiesce thaw /mnt/fz
                [ $STEP_RC = 0 ] || t_fail "quiesce thaw rc=$STEP_RC: $STEP_OUT"
                probe /mnt/fz
                [ $PROBE = thawed ] || t_fail "still frozen after the thaw"
                probes_done 10
                t_end "$raw"
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
                fsck_clean /dev/vg/data-qz-b1
                step 120 quiesce snapshot delete b1
                [ $STEP_RC = 0 ] || t_fail "delete rc=$STEP_RC: $STEP_OUT"
                t_end "label $label; backup in ${took} ms; writer files: $before acknowledged before, $nw in the archive, $after when stopped"
        fi
else
        for n in lvm-classic-ext4 lvm-thin-ext4 lvm-frozen-refused lvm-backup-busy-ext4; do
                want $n && echo "QZTEST $n FAIL LVM setup failed: $STEP_OUT"
        done
fi
qzd_stop
