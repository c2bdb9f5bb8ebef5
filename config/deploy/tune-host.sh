#!/usr/bin/env bash
# Run-time host settings for carry (as root, at boot, before carry starts). Boot-time kernel
# parameters cannot be set from here; the README's "Deployment on bare metal" lists them.
# Usage: tune-host.sh "2-5"   (the cores carry pins to; must match isolcpus)
set -euo pipefail
cores=${1:?usage: tune-host.sh CORE-LIST (e.g. 2-5)}

# Transparent huge pages: khugepaged compaction stalls are worse than TLB misses here.
echo never > /sys/kernel/mm/transparent_hugepage/enabled
echo never > /sys/kernel/mm/transparent_hugepage/defrag

# Keep device interrupts off the isolated cores: route every IRQ to the housekeeping cores.
# smp_affinity_list takes a core list; default_smp_affinity only takes a hex mask.
read -r housekeeping housekeeping_mask < <(python3 - "$cores" <<'PY'
import os, sys
def expand(s):
    out = set()
    for part in s.split(','):
        a, _, b = part.partition('-')
        out.update(range(int(a), int(b or a) + 1))
    return out
iso = expand(sys.argv[1])
keep = [c for c in range(os.cpu_count()) if c not in iso]
print(','.join(map(str, keep)), format(sum(1 << c for c in keep), 'x'))
PY
)
for irq in /proc/irq/[0-9]*; do
  echo "$housekeeping" > "$irq/smp_affinity_list" 2>/dev/null || true
done
echo "$housekeeping_mask" > /proc/irq/default_smp_affinity 2>/dev/null || true
systemctl stop irqbalance 2>/dev/null || true

# CPU frequency: no dips between bursts.
for g in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do
  echo performance > "$g" 2>/dev/null || true
done

# Watchdog and vmstat timers off the isolated cores.
echo 0 > /proc/sys/kernel/nmi_watchdog 2>/dev/null || true
sysctl -q -w vm.stat_interval=10 kernel.numa_balancing=0 || true
echo "carry host tuning applied: isolated $cores, housekeeping $housekeeping"
