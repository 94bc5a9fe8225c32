# 20-seed.sh - the seed mails' cases A, B and C with quiesce in place of the
# raw FIFREEZE/FITHAW, on ext4 and XFS over a dm linear device on a loop
# device. quiesce must never hang, never call FITHAW on a freeze it did not
# make (device-mapper's), and answer a thaw of a freeze it does not hold
# with EINVAL at once.

DM_SECTORS=0
# seed_setup FSTYPE NAME: a fresh dm linear device with a filesystem, mounted on /mnt/NAME
seed_setup() {
        SEED_DEV=$(loopdev 320)
        DM=$2
        MNT=/mnt/$2
        dmsetup create $DM --table "0 $(blockdev --getsz $SEED_DEV) linear $SEED_DEV 0" || return 1
        mkfs_quiet $1 /dev/mapper/$DM || return 1
        mkdir -p $MNT
        mount -t $1 /dev/mapper/$DM $MNT || return 1
        echo data >$MNT/file && sync
}

seed_teardown() {
        dmsetup resume $DM 2>/dev/null
        # a quiesce command that was stuck finishes after the resume
        for p in $HUNG; do wait_gone $p 20 || echo "  teardown: $p still blocked"; done
        HUNG=""
        quiesce thaw $MNT >/dev/null 2>&1
        probes_done 20 || echo "  teardown: writers still blocked: $PROBES"
        umount $MNT
        dmsetup remove $DM
        losetup -d $SEED_DEV
}

# expect_quick NAME MAX_MS: the last step finished (no hang) within MAX_MS
expect_quick() {
        if [ $STEP_RC = 124 ]; then
                t_fail "$1 HUNG ($STEP_OUT)"
        elif [ $STEP_MS -gt $2 ]; then
                t_fail "$1 took ${STEP_MS} ms (more than $2)"
        fi
}

# thaw_refused NAME: `quiesce thaw` of a freeze quiesce does not hold answers
# at once, exit 1, "no quiesce hold" (EINVAL); THAW_SAID describes it
thaw_refused() {
        step 10 quiesce thaw $MNT
        expect_quick "$1" 2000
        THAW_SAID="$1 rc=$STEP_RC ${STEP_MS}ms: $STEP_OUT"
        [ $STEP_RC = 1 ] || t_fail "$1: rc=$STEP_RC, not 1"
        echo "$STEP_OUT" | grep -q "no quiesce hold" || t_fail "$1 did not answer EINVAL (no quiesce hold): $STEP_OUT"
}

# dm_kept_then_resumed: quiesced never called FITHAW (the counter is still
# $thaw0), device-mapper's freeze still holds, and dmsetup resume releases
# the writers
dm_kept_then_resumed() {
        [ "$(counter fithaw)" = "$thaw0" ] || t_fail "quiesced called FITHAW ($thaw0 -> $(counter fithaw))"
        probe $MNT
        [ $PROBE = frozen ] || t_fail "device-mapper's freeze was released"
        step 20 dmsetup resume $DM
        [ $STEP_RC = 0 ] || t_fail "dmsetup resume rc=$STEP_RC: $STEP_OUT"
        probes_done 10 || t_fail "writers still blocked after the resume"
}

qzd_start 60s || echo "  quiesced did not start: $(tail -5 /tmp/quiesced.log)"

for fs in ext4 xfs; do
        # ---- A: dmsetup suspend, quiesce freeze, quiesce thaw, dmsetup resume
        if want seed-A-$fs; then
                t_begin seed-A-$fs
                seed_setup $fs sa$fs || t_fail "setup failed"
                thaw0=$(counter fithaw)
                step 20 dmsetup suspend $DM
                [ $STEP_RC = 0 ] || t_fail "dmsetup suspend rc=$STEP_RC: $STEP_OUT"
                probe $MNT
                [ $PROBE = frozen ] || t_fail "dmsetup suspend did not freeze $fs"
                step 15 quiesce freeze --detach --timeout 20s $MNT
                expect_quick "quiesce freeze" 5000
                fr="freeze rc=$STEP_RC ${STEP_MS}ms: $STEP_OUT"
                [ $STEP_RC = 1 ] || t_fail "quiesce freeze: rc=$STEP_RC, not 1"
                echo "$STEP_OUT" | grep -q "device-mapper holds its freeze" || t_fail "quiesce freeze did not say device-mapper holds the freeze: $STEP_OUT"
                thaw_refused "quiesce thaw"
                dm_kept_then_resumed
                probe $MNT
                [ $PROBE = thawed ] || t_fail "still frozen after the resume"
                seed_teardown
                t_end "$fr; $THAW_SAID"
        fi

        # ---- B: quiesce freeze, dmsetup suspend, dmsetup resume, quiesce thaw
        for lockfs in lockfs nolockfs; do
                name=seed-B-$fs; [ $lockfs = nolockfs ] && name=seed-B-nolockfs-$fs
                want $name || continue
                t_begin $name
                seed_setup $fs sb$fs || t_fail "setup failed"
                f0=$(counter fifreeze) thaw0=$(counter fithaw)
                step 15 quiesce freeze --detach --timeout 30s $MNT
                expect_quick "quiesce freeze" 5000
                [ $STEP_RC = 0 ] || t_fail "quiesce freeze rc=$STEP_RC: $STEP_OUT"
                probe $MNT
                [ $PROBE = frozen ] || t_fail "quiesce freeze did not freeze"
                if [ $lockfs = lockfs ]; then step 20 dmsetup suspend $DM; else step 20 dmsetup suspend --nolockfs $DM; fi
                expect_quick "dmsetup suspend" 15000
                su="dmsetup suspend${lockfs#lockfs} rc=$STEP_RC ($STEP_OUT)"
                [ $lockfs = nolockfs ] && [ $STEP_RC != 0 ] && t_fail "dmsetup suspend --nolockfs rc=$STEP_RC: $STEP_OUT"
                step 20 dmsetup resume $DM
                [ $STEP_RC = 0 ] || t_fail "dmsetup resume rc=$STEP_RC: $STEP_OUT"
                probe $MNT
                [ $PROBE = frozen ] || t_fail "no longer frozen after dmsetup resume (quiesce's freeze was released by dm)"
                step 10 quiesce thaw $MNT
                expect_quick "quiesce thaw" 3000
                [ $STEP_RC = 0 ] || t_fail "quiesce thaw rc=$STEP_RC: $STEP_OUT"
                probes_done 10 || t_fail "writers still blocked after quiesce thaw"
                probe $MNT
                [ $PROBE = thawed ] || t_fail "still frozen after quiesce thaw"
                c="FIFREEZE $(($(counter fifreeze) - f0)) FITHAW $(($(counter fithaw) - thaw0))"
                [ "$c" = "FIFREEZE 1 FITHAW 1" ] || t_fail "quiesced's ioctls: $c (want 1 and 1)"
                seed_teardown
                t_end "$su; $c"
        done

        # ---- C: dmsetup suspend, quiesce freeze, quiesce thaw, quiesce thaw
        if want seed-C-$fs; then
                t_begin seed-C-$fs
                seed_setup $fs sc$fs || t_fail "setup failed"
                thaw0=$(counter fithaw)
                step 20 dmsetup suspend $DM
                [ $STEP_RC = 0 ] || t_fail "dmsetup suspend rc=$STEP_RC: $STEP_OUT"
                probe $MNT
                step 15 quiesce freeze --detach --timeout 20s $MNT
                expect_quick "quiesce freeze" 5000
                [ $STEP_RC = 1 ] || t_fail "quiesce freeze: rc=$STEP_RC, not 1 (EBUSY)"
                echo "$STEP_OUT" | grep -q "device-mapper holds its freeze" || t_fail "quiesce freeze did not say device-mapper holds the freeze: $STEP_OUT"
                thaw_refused "first quiesce thaw"
                thaw_refused "second quiesce thaw"
                dm_kept_then_resumed
                seed_teardown
                t_end "$THAW_SAID"
        fi
done
qzd_stop
