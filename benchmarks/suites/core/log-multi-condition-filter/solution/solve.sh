#!/bin/bash
# Oracle: multi-condition filter of a key=value log, then per-service counts.

head -n 5 /app/app.log

# sim: prefers rg 'level=(ERROR|CRITICAL)' /app/app.log | rg 'service=(payments|billing) ' | rg -v -i retry > /app/slow_errors.log
python3 - <<'PY'
import re
keep = []
for line in open("/app/app.log"):
    fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    msg = fields.get("msg", "").strip('"')
    if (fields.get("level") in ("ERROR", "CRITICAL") and fields.get("service") in ("payments", "billing")
            and int(fields.get("latency_ms", "0")) > 500 and "retry" not in msg.lower()):
        keep.append(line)
open("/app/slow_errors.log", "w").writelines(keep)
print(len(keep), "lines")
PY

for s in billing payments; do echo "$s $(grep -c " service=$s\( \|$\)" /app/slow_errors.log)"; done > /app/slow_errors_count.txt
