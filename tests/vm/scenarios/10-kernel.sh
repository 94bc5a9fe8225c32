# 10-kernel.sh - what the kernel itself does when FIFREEZE/FITHAW (util-linux
# fsfreeze, no quiesce) meet a device-mapper suspend, on ext4 and XFS over a
# dm linear device, each case on a fresh device. These are the facts
# quiesce's behaviour rests on (docs/device-mapper.md); each case is a test
# that checks the kernel still behaves as documented there.

k_setup() { # FSTYPE
        K_DEV=$(loopdev 320)
        K_DM=k$1
        K_MNT=/mnt/k$1
        dmsetup create $K_DM --table "0 $(blockdev --getsz $K_DEV) linear $K_DEV 0" &&
                mkfs_quiet $1 /dev/mapper/$K_DM && mkdir -p $K_MNT && mount -t $1 /dev/mapper/$K_DM $K_MNT
}

k_teardown() {
        dmsetup resume $K_DM 2>/dev/null
        for p in $HUNG; do wait_gone $p 20; done
        HUNG=""
        step 10 fsfreeze -u $K_MNT
        probes_done 20
        umount $K_MNT
        dmsetup remove $K_DM
        losetup -d $K_DEV
}

for fs in ext4 xfs; do
        # K1: dm suspend, then FIFREEZE -> EBUSY at once
        if want kernel-K1-$fs; then
                t_begin kernel-K1-$fs
                k_setup $fs || t_fail setup
                step 20 dmsetup suspend $K_DM
                probe $K_MNT
                [ $PROBE = frozen ] || t_fail "dmsetup suspend did not freeze the filesystem"
                step 10 fsfreeze -f $K_MNT
                d="FIFREEZE rc=$STEP_RC ${STEP_MS}ms: $STEP_OUT"
                echo "$STEP_OUT" | grep -q "busy" || t_fail "FIFREEZE on dm's freeze: $d (want EBUSY)"
                k_teardown
                t_end "$d"
        fi

        # K2: dm suspend, then FITHAW: the kernel lets it release dm's freeze
        # (ext4 then blocks writing its superblock until the resume: the seed's
        # case C), and afterwards dm's suspends no longer freeze this filesystem
        if want kernel-K2-$fs; then
                t_begin kernel-K2-$fs
                k_setup $fs || t_fail setup
                step 20 dmsetup suspend $K_DM
                step 10 fsfreeze -u $K_MNT
                rc=$STEP_RC ms=$STEP_MS pid=$STEP_PID
                d="FITHAW rc=$rc ${ms}ms"
                step 20 dmsetup resume $K_DM
                [ $rc = 124 ] && { wait_gone $pid 20 && d="$d, returned after the resume" || d="$d, STILL BLOCKED"; }
                case $fs in
                ext4) [ $rc = 124 ] || t_fail "ext4: FITHAW did not block ($d)" ;;
                xfs) [ $rc = 0 ] || t_fail "xfs: FITHAW rc=$rc ($d)" ;;
                esac
                probe $K_MNT
                [ $PROBE = thawed ] || t_fail "frozen after the resume"
                # dm's next suspend: does it still freeze the filesystem?
                step 20 dmsetup suspend $K_DM
                probe $K_MNT
                d="$d; next dmsetup suspend rc=$STEP_RC, filesystem $PROBE"
                [ $PROBE = thawed ] || t_fail "dm's next suspend froze the filesystem again (the count did not leak)"
                k_teardown
                t_end "$d"
        fi

        # K3: FIFREEZE, then dm suspend (lockfs): EBUSY before 6.8; from 6.8 on
        # (bdev_freeze with FREEZE_MAY_NEST) it nests. --nolockfs always suspends.
        if want kernel-K3-$fs; then
                t_begin kernel-K3-$fs
                k_setup $fs || t_fail setup
                step 10 fsfreeze -f $K_MNT
                step 20 dmsetup suspend $K_DM
                d="dmsetup suspend rc=$STEP_RC ($STEP_OUT)"
                if kernel_at_least 6 8; then
                        [ $STEP_RC = 0 ] || t_fail "dm suspend of a frozen filesystem: $d (want 0: nested, >= 6.8)"
                        step 20 dmsetup resume $K_DM
                else
                        echo "$STEP_OUT" | grep -q "busy" || t_fail "dm suspend of a frozen filesystem: $d (want EBUSY, < 6.8)"
                fi
                step 20 dmsetup suspend --nolockfs $K_DM
                d="$d; --nolockfs rc=$STEP_RC"
                [ $STEP_RC = 0 ] || t_fail "dmsetup suspend --nolockfs rc=$STEP_RC"
                step 20 dmsetup resume $K_DM
                probe $K_MNT
                [ $PROBE = frozen ] || t_fail "the FIFREEZE freeze was released by dm's resume"
                k_teardown
                t_end "$d"
        fi

        # K4: dm suspend, then syncfs() (what quiesced does before FIFREEZE)
        if want kernel-K4-$fs; then
                t_begin kernel-K4-$fs
                k_setup $fs || t_fail setup
                step 20 dmsetup suspend $K_DM
                step 10 sync -f $K_MNT
                d="syncfs rc=$STEP_RC ${STEP_MS}ms ($(pstate $STEP_PID))"
                case $fs in
                ext4) [ $STEP_RC = 124 ] || t_fail "ext4: syncfs did not block ($d)" ;;
                xfs) [ $STEP_RC = 0 ] || t_fail "xfs: syncfs rc=$STEP_RC ($d)" ;;
                esac
                k_teardown
                t_end "$d"
        fi

        # K5: dm suspend --nolockfs (the filesystem is not frozen), then FIFREEZE:
        # its sync blocks on the suspended device until the resume
        if want kernel-K5-$fs; then
                t_begin kernel-K5-$fs
                k_setup $fs || t_fail setup
                step 20 dmsetup suspend --nolockfs $K_DM
                step 5 fsfreeze -f $K_MNT
                rc=$STEP_RC pid=$STEP_PID
                d="FIFREEZE rc=$rc ${STEP_MS}ms"
                [ $rc = 124 ] || t_fail "FIFREEZE on a suspended device did not block ($d)"
                step 20 dmsetup resume $K_DM
                [ $rc = 124 ] && { wait_gone $pid 20 && d="$d, returned after the resume" || t_fail "FIFREEZE still blocked after the resume"; }
                k_teardown
                t_end "$d"
        fi
done
