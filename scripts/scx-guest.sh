#!/bin/sh
# Runs one command as root in a sched_ext guest: QEMU boots the given kernel with this machine's root
# filesystem read-only over virtiofs, a writable exchange directory at /mnt/share (the command's cwd), and
# prints the command's output; exits with its status.
#
#   TSLAND_GUEST_KERNEL=/path/to/vmlinux scripts/scx-guest.sh [--cpus N] [--mem SIZE] -- command args...
#
# A stop-gap for the sched_ext tests until `tsland guest run` exists; it needs qemu-system-x86_64 and
# /usr/lib/qemu/virtiofsd. Uses KVM only when TSLAND_GUEST_KVM=1 (PVM hosts cannot run a stock kernel).
set -eu
cpus=2
mem=1G
while [ $# -gt 0 ]; do
  case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "scx-guest: no command given" >&2; exit 2; }
kernel=${TSLAND_GUEST_KERNEL:?set TSLAND_GUEST_KERNEL to a sched_ext kernel image}
virtiofsd=${TSLAND_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
work=$(mktemp -d /tmp/scx-guest.XXXXXX)
mkdir "$work/share"
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The command, quoted for the guest's shell.
for a in "$@"; do printf "'%s' " "$(printf %s "$a" | sed "s/'/'\\\\''/g")"; done > "$work/cmd"
cat > "$work/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /mnt
mkdir -p /mnt/share
mount -t virtiofs share /mnt/share
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/mnt/share
cd /mnt/share
$(cat "$work/cmd") </dev/null
echo \$? > /mnt/share/.rc
sync
echo o > /proc/sysrq-trigger
sleep 10
INIT
chmod +x "$work/init"

"$virtiofsd" --socket-path="$work/root.sock" -o source=/ -o cache=auto -o sandbox=chroot >"$work/vfs-root.log" 2>&1 &
pids="$pids $!"
"$virtiofsd" --socket-path="$work/share.sock" -o source="$work/share" -o cache=none -o sandbox=namespace >"$work/vfs-share.log" 2>&1 &
pids="$pids $!"
i=0
while [ ! -S "$work/root.sock" ] || [ ! -S "$work/share.sock" ]; do
  i=$((i + 1)); [ $i -lt 100 ] || { echo "scx-guest: virtiofsd did not start" >&2; exit 1; }
  sleep 0.1
done
# One host thread for all vCPUs by default: with multi-threaded TCG, the guest kernel's live code patching
# (static keys flipped when a sched_ext scheduler is enabled or disabled) raced with the other vCPU and
# oopsed on the patch's int3 in 2 of 3 boots here. TSLAND_GUEST_TCG_THREAD=multi to try it anyway.
accel="-accel tcg,thread=${TSLAND_GUEST_TCG_THREAD:-single} -cpu max"
[ "${TSLAND_GUEST_KVM:-0}" = 1 ] && accel="-enable-kvm -cpu host"
# shellcheck disable=SC2086
qemu-system-x86_64 $accel -smp "$cpus" -m "$mem" \
  -object memory-backend-memfd,id=mem,size="$mem",share=on -numa node,memdev=mem \
  -chardev socket,id=root,path="$work/root.sock" -device vhost-user-fs-pci,chardev=root,tag=rootfs \
  -chardev socket,id=xch,path="$work/share.sock" -device vhost-user-fs-pci,chardev=xch,tag=share \
  -kernel "$kernel" \
  -append "rootfstype=virtiofs root=rootfs ro console=ttyS0 init=$work/init panic=-1 quiet mitigations=off" \
  -nographic -no-reboot </dev/null &
qpid=$!
pids="$qpid $pids"
wait "$qpid" || true
pids=$(echo "$pids" | sed "s/^$qpid //")
[ -f "$work/share/.rc" ] || { echo "scx-guest: the guest did not report an exit status" >&2; exit 1; }
exit "$(cat "$work/share/.rc")"
