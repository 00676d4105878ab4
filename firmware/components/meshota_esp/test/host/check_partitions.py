"""Check the partition tables of the example apps: two OTA slots and otadata (what meshota
needs), app partitions aligned to 64 KB, data partitions to 4 KB, no overlap, nothing before
0x9000 (bootloader and partition table) and everything inside 4 MB of flash.
Run by ctest (meshota_esp_partitions).

usage: check_partitions.py <firmware dir>
"""
import sys

FLASH = 4 * 1024 * 1024
FIRST_FREE = 0x9000  # the partition table sits at 0x8000, one 4 KB sector


def parse(path):
    rows = []
    for n, line in enumerate(open(path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        f = [x.strip() for x in line.split(",")]
        if len(f) < 5 or not f[3] or not f[4]:
            raise ValueError(f"{path}:{n}: every row needs name, type, subtype, offset and size")
        rows.append({"name": f[0], "type": f[1], "subtype": f[2],
                     "offset": int(f[3], 0), "size": int(f[4], 0), "line": n})
    return rows


def check(path):
    problems = []
    rows = parse(path)
    subtypes = {(r["type"], r["subtype"]) for r in rows}
    for need in [("app", "ota_0"), ("app", "ota_1"), ("data", "ota"), ("data", "nvs")]:
        if need not in subtypes:
            problems.append(f"{path}: no {need[0]}/{need[1]} partition")
    ota = [r for r in rows if r["type"] == "app" and r["subtype"].startswith("ota_")]
    if len({r["size"] for r in ota}) > 1:
        problems.append(f"{path}: OTA slots differ in size; an image must fit either")
    end = 0
    for r in sorted(rows, key=lambda r: r["offset"]):
        align = 0x10000 if r["type"] == "app" else 0x1000
        where = f"{path}:{r['line']} {r['name']}"
        if r["offset"] % align or r["size"] % 0x1000:
            problems.append(f"{where}: offset 0x{r['offset']:x} or size 0x{r['size']:x} misaligned")
        if r["offset"] < max(end, FIRST_FREE):
            problems.append(f"{where}: overlaps the previous partition or the partition table")
        end = r["offset"] + r["size"]
        if end > FLASH:
            problems.append(f"{where}: ends at 0x{end:x}, beyond 4 MB")
    return problems


fw = sys.argv[1]
problems = []
for app in ("node", "gateway", "bridge"):
    problems += check(f"{fw}/examples/{app}/partitions.csv")
for p in problems:
    print(p)
print(f"{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
