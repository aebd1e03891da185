#!/bin/bash
# A real single-node Slurm cluster (Debian's munge, slurmctld, slurmd; see ../shared/recipes.md,
# section 7) runs a batch as a 4-task array job (each task takes its shard from
# SLURM_ARRAY_TASK_ID/MIN/COUNT), then `stagecheck merge` joins the 4 reports; the merged verdict,
# failing scenes and per-scene results must equal the single-process run's.
#
#   tests/engines/slurm_batch_test.sh DRIVER [SCENES] [EPISODES]
#
# Needs root and the Slurm packages: exits 77 (skipped) without them, unless
# STAGECHECK_SLURM_INSTALL=1 lets it apt-get install them. Starts everything under a fresh
# mktemp folder and stops every daemon it started, also on failure.
set -euo pipefail
DRIVER=$(readlink -f "${1:?usage: slurm_batch_test.sh DRIVER [SCENES] [EPISODES]}")
SCENES=${2:-24}
EPISODES=${3:-20}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
SPEC=$HERE/examples/blueprint/production_e2e.yaml
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (the daemons run as root)"; exit 77; fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "${STAGECHECK_SLURM_INSTALL:-0}" != 1 ]; then
    echo "SKIP: Slurm is not installed (set STAGECHECK_SLURM_INSTALL=1 to apt-get install it)"
    exit 77
  fi
  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
W=$(mktemp -d /tmp/stagecheck-slurm.XXXXXX); chmod 755 "$W"   # munged: socket dir must be o+x
mkdir -p "$W"/munge "$W"/etc "$W"/state "$W"/spool "$W"/log "$W"/out
export SLURM_CONF="$W/etc/slurm.conf"
SOCK="$W/munge/munge.socket"; MUNGE_PID=; CTLD_PID=; SLURMD_PID=
cleanup() {
  set +e
  if [ -n "$CTLD_PID$SLURMD_PID" ]; then
    scontrol shutdown >/dev/null 2>&1
    for _ in $(seq 40); do alive=0
      for p in $CTLD_PID $SLURMD_PID; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive = 0 ] && break; sleep 0.25; done
    for p in $CTLD_PID $SLURMD_PID; do kill "$p" 2>/dev/null; done
  fi
  [ -n "$MUNGE_PID" ] && kill "$MUNGE_PID" 2>/dev/null
  wait 2>/dev/null; CTLD_PID=; SLURMD_PID=; MUNGE_PID=
}
trap cleanup EXIT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
P=6817; while ! port_free $P || ! port_free $((P+1)); do P=$((P+2)); done

# The fleet, and the single-process run to compare with.
python3 "$HERE/tests/support/make_scenes.py" "$W/fleet" --scenes "$SCENES" --episodes "$EPISODES" \
  --fail-fraction 0.2 --seed 4
chmod -R a+rX "$W/fleet"
t0=$(date +%s.%N)
set +e
"$DRIVER" run "$SPEC" --root "$W/fleet" --scenes all --jobs 2 --quiet --report-json "$W/single.json" >"$W/single.txt"
SINGLE_CODE=$?
set -e
t1=$(date +%s.%N)

mungekey --create --keyfile="$W/munge/munge.key"
munged -F --key-file="$W/munge/munge.key" --socket="$SOCK" --pid-file="$W/munge/munged.pid" \
  --log-file="$W/munge/munged.log" --seed-file="$W/munge/munged.seed" 2>"$W/munge/stderr" &
MUNGE_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null
HW=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
cat > "$SLURM_CONF" <<EOF
ClusterName=stagecheck
SlurmctldHost=localhost
SlurmctldPort=$P
SlurmdPort=$((P+1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D           >"$W/log/slurmctld.out" 2>&1 & CTLD_PID=$!
slurmd -D -N localhost >"$W/log/slurmd.out"    2>&1 & SLURMD_PID=$!
st=; for _ in $(seq 120); do st=$(sinfo -h -o %T 2>/dev/null || true); [ "$st" = idle ] && break; sleep 0.25; done
[ "$st" = idle ] || { echo "FAIL: node not idle: $st"; sinfo -R; tail -n 20 "$W"/log/*.out; exit 1; }

# The array job: each task is one shard, taken from the Slurm environment (no --shard).
cat > "$W/job.sh" <<EOF
#!/bin/bash
exec "$DRIVER" run "$SPEC" --root "$W/fleet" --scenes all --jobs 1 --quiet \\
  --report-json "$W/out/shard-\${SLURM_ARRAY_TASK_ID}.json"
EOF
chmod +x "$W/job.sh"
t2=$(date +%s.%N)
JOBID=$(sbatch --parsable --array=0-3 -o "$W/out/slurm-%A_%a.out" "$W/job.sh")
while [ -n "$(squeue -h -j "$JOBID" 2>/dev/null)" ]; do sleep 0.25; done
t3=$(date +%s.%N)
for i in 0 1 2 3; do
  [ -f "$W/out/shard-$i.json" ] || { echo "FAIL: no report from task $i"; cat "$W"/out/slurm-*; exit 1; }
done
set +e
"$DRIVER" merge "$W"/out/shard-*.json --quiet --report-json "$W/merged.json" >"$W/merged.txt"
MERGED_CODE=$?
set -e
python3 - "$W" "$SINGLE_CODE" "$MERGED_CODE" <<'EOF'
import json, sys
w, single_code, merged_code = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
single = json.load(open(f"{w}/single.json"))
merged = json.load(open(f"{w}/merged.json"))
expected = json.load(open(f"{w}/fleet/expected.json"))
strip = lambda scenes: [{k: v for k, v in s.items() if k != "duration_ms"} for s in scenes]
shards = sorted((m["shard"]["index"], m["shard"]["count"]) for m in merged["merged_from"])
sources = {json.load(open(f"{w}/out/shard-{i}.json"))["shard"]["source"] for i in range(4)}
checks = [
    ("single exit code is 1 (the fleet has failing scenes)", single_code == 1),
    ("merged exit code equals the single run's", merged_code == single_code),
    ("merged verdict equals the single run's", merged["verdict"] == single["verdict"]),
    ("failing scenes equal", merged["failing_scenes"] == single["failing_scenes"] == expected["failing"]),
    ("per-scene results equal", strip(merged["scenes"]) == strip(single["scenes"])),
    ("no merge problems", merged["problems"] == []),
    ("shards 0..3 of 4", shards == [(0, 4), (1, 4), (2, 4), (3, 4)]),
    ("shards taken from Slurm", sources == {"slurm"}),
]
for name, ok in checks:
    print(("ok   " if ok else "FAIL ") + name)
if not all(ok for _, ok in checks):
    print(json.dumps(merged["problems"]))
    sys.exit(1)
print(f"{len(merged['scenes'])} scenes, failing: {', '.join(merged['failing_scenes'])}")
EOF
printf 'single process (--jobs 2): %.2f s; 4-task Slurm array (submit to last task done): %.2f s\n' \
  "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t3 - $t2" | bc -l)"
cleanup; trap - EXIT
left=$(ps -eo stat=,comm= | awk '$1 !~ /^Z/ && $2 ~ /^(slurmctld|slurmd|slurmstepd|slurmscriptd|munged)$/')
[ -z "$left" ] || { echo "FAIL: still running: $left"; exit 1; }
rm -rf "$W"; echo PASS
